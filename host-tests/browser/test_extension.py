"""The browser build: its JS API in Node, and the MV3 extension in headless
Chromium (examples/browser-extension/test/). Builds the wasm package first."""

import os
import shutil
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXTENSION = os.path.join(ROOT, "examples", "browser-extension")
NODE_DIR = os.environ.get("WARD_NODE", os.path.expanduser("~/.cache/ward/node"))
CHROMIUM = os.environ.get("WARD_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def package():
    """Builds filters/web into examples/browser-extension/pkg (scripts/build-web.sh)."""
    if shutil.which("node") is None:
        pytest.fail("node is not installed (scripts/setup.sh --all)")
    run = subprocess.run([os.path.join(ROOT, "scripts", "build-web.sh")], capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, f"build-web.sh failed:\n{run.stdout}\n{run.stderr}"
    return os.path.join(EXTENSION, "pkg")


def node_test(script, timeout):
    env = dict(os.environ, WARD_NODE=NODE_DIR, WARD_CHROMIUM=CHROMIUM)
    run = subprocess.run(
        ["node", "--test", "--test-reporter=tap", os.path.join("test", script)],
        cwd=EXTENSION, env=env, capture_output=True, text=True, timeout=timeout,
    )
    assert run.returncode == 0, f"{script} failed:\n{run.stdout[-20000:]}\n{run.stderr[-5000:]}"
    # node --test exits 0 when it found no tests at all; insist they ran.
    assert "# fail 0" in run.stdout and "# pass 0" not in run.stdout, run.stdout


def test_js_api(package):
    node_test("api.mjs", timeout=120)


def test_extension_in_headless_chromium(package):
    for need, hint in [(CHROMIUM, "chromium"), (os.path.join(NODE_DIR, "node_modules", "playwright-core"), "playwright-core")]:
        if not os.path.exists(need):
            pytest.fail(f"{hint} is missing at {need} (scripts/setup.sh --all)")
    node_test("extension.mjs", timeout=300)

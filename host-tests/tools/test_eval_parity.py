"""`ward eval` (native engine) and `ward-host eval` (the filter module Envoy
loads, in the wasmtime host) must count the same rows as flagged: per file,
per label and per metadata slice.

Runs on the fixture corpus in host-tests/fixtures/eval-corpus and, when the
evaluation corpora are there ($WARD_CORPORA, else ../shared/corpora beside
the repository), on an evenly spaced sample of every injection file.
Needs scripts/build.sh (the module, and ward-host under the `host` profile).
"""

import gzip
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "host-tests" / "fixtures" / "eval-corpus"
SAMPLE_ROWS = int(os.environ.get("WARD_EVAL_SAMPLE", "150"))
COUNTS = ("positives", "negatives", "true_positives", "false_positives")


def target_dir():
    return Path(os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache/ward/target")))


@pytest.fixture(scope="module")
def ward_host_bin():
    path = Path(os.environ.get("WARD_HOST_BIN", str(target_dir() / "host" / "ward-host")))
    assert path.is_file(), f"{path} is missing: run scripts/build.sh"
    return str(path)


def evaluate(cmd, corpus):
    out = subprocess.run([*cmd, "eval", "--corpus", str(corpus), "--detector", "injection", "--json"], check=True, capture_output=True, text=True, timeout=1800)
    return json.loads(out.stdout)


def comparable(report):
    """Per file: the counts and every by_* slice; rates follow from them."""
    files = {}
    for f in report["files"]:
        slices = {k: {v: [t[c] for c in COUNTS] for v, t in by.items()} for k, by in f.items() if k.startswith("by_")}
        files[f["path"]] = {"total": [f[c] for c in COUNTS], **slices}
    return files, [report["overall"][c] for c in COUNTS]


def assert_same(ward_bin, ward_host_bin, corpus):
    native = evaluate([ward_bin], corpus)
    wasm = evaluate([ward_host_bin], corpus)
    assert wasm["host"] == "wasm"
    assert comparable(wasm) == comparable(native)
    return native


def test_fixture_corpus_counts_agree(ward_bin, ward_host_bin):
    native = assert_same(ward_bin, ward_host_bin, FIXTURE)
    overall = native["overall"]
    # The fixture has rows of every origin and both labels; a run where the
    # detector flagged nothing (or everything) would compare nothing useful.
    assert len(native["files"]) == 3
    assert 0 < overall["true_positives"] and overall["false_positives"] < overall["negatives"]


def corpora():
    explicit = os.environ.get("WARD_CORPORA")
    return Path(explicit) if explicit else ROOT.parent / "shared" / "corpora"


def test_corpus_samples_agree(ward_bin, ward_host_bin, tmp_path):
    source = corpora() / "injection"
    if not source.is_dir():
        pytest.skip(f"{source} is not there")
    sample = tmp_path / "injection"
    sample.mkdir()
    for path in sorted(source.iterdir()):
        name = path.name
        if not (name.endswith(".jsonl") or name.endswith(".jsonl.gz")):
            continue
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            rows = [line for line in f if line.strip()]
        step = max(1, len(rows) // SAMPLE_ROWS)
        picked = rows[::step][:SAMPLE_ROWS]
        (sample / name.removesuffix(".gz")).write_text("".join(picked), encoding="utf-8")
    native = assert_same(ward_bin, ward_host_bin, sample)
    assert len(native["files"]) >= 1

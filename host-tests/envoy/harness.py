"""Starts the mock upstream and a real Envoy with the Ward filter, on
127.0.0.1, and stops them by PID. Shared by the pytest suite, the demo and
the load run.

Envoy gets two listeners in front of the same upstream: `ward_port` with the
filter, `base_port` without it (the same-run baseline for overhead).
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CACHE = os.environ.get("WARD_CACHE", os.path.expanduser("~/.cache/ward"))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(CACHE, "target"))
ENVOY = os.environ.get("WARD_ENVOY", os.path.join(CACHE, "venv", "bin", "envoy-bin"))
WASM = os.environ.get("WARD_FILTER_WASM", os.path.join(TARGET, "wasm32-wasip1", "release", "ward_filter.wasm"))
MOCK = os.path.join(ROOT, "host-tests", "mock_upstream.py")
WARD = os.environ.get("WARD_BIN", os.path.join(TARGET, "release", "ward"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Mock:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, MOCK, "0"], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        self.port = int(line.split()[1])

    def seen(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/__seen") as r:
            return json.load(r)

    def reset(self):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/__reset", data=b"", method="POST")
        urllib.request.urlopen(req).read()

    def stop(self):
        stop(self.proc)


EXAMPLE_CONFIG = os.path.join(ROOT, "examples", "envoy", "envoy.yaml")


def render_fragment(name, **values):
    """Fills the ${...} placeholders of an example fragment
    (examples/envoy/NAME) with JSON literals of `values`."""
    with open(os.path.join(ROOT, "examples", "envoy", name)) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace("${" + k + "}", json.dumps(v))
    return text


def envoy_config(policy_json, ward_port, base_port, admin_port, upstream_port, wasm=WASM, buffer_bytes=None, template=EXAMPLE_CONFIG,
                 extra_http_filters="", collector_port=None):
    """Renders the shipped example config (one source of truth for what
    users run and what the tests run). `extra_http_filters` is a YAML list
    of HTTP filters (a rendered fragment) to run before Ward."""
    if buffer_bytes is None:
        try:
            limit = json.loads(policy_json or "{}").get("limits", {}).get("max_request_bytes", 1 << 20)
        except (ValueError, AttributeError):
            limit = None
        # A policy the filter will reject still needs a config Envoy parses.
        buffer_bytes = 2 * limit if isinstance(limit, int) and limit > 0 else 2 << 20
    values = {
        "WARD_PORT": ward_port, "BASELINE_PORT": base_port, "ADMIN_PORT": admin_port,
        "UPSTREAM_PORT": upstream_port, "BUFFER_BYTES": buffer_bytes,
        # Without a collector the cluster points at a closed port; only a
        # policy naming it (audit.collector) calls it.
        "COLLECTOR_PORT": collector_port or free_port(),
        "WARD_FILTER_WASM": json.dumps(wasm),
        # A JSON string literal is a valid YAML double-quoted scalar.
        "WARD_POLICY_JSON": json.dumps(policy_json),
    }
    with open(template) as f:
        text = f.read()
    # Only the placeholder line, indented to its column; comments may name it.
    lines = [l for l in extra_http_filters.splitlines() if l.strip() and not l.lstrip().startswith("#")]
    text = re.sub(r"^( *)\$\{EXTRA_HTTP_FILTERS\}$", lambda m: "\n".join(m.group(1) + l for l in lines), text, flags=re.M)
    for k, v in values.items():
        text = text.replace("${" + k + "}", str(v))
    return text


class Envoy:
    """A running Envoy. `policy_json` is the plugin configuration string."""

    def __init__(self, policy_json, upstream_port, wasm=WASM, concurrency=1, extra_args=(), buffer_bytes=None, wait=True, extra_http_filters="",
                 collector_port=None):
        self.ward_port, self.base_port, self.admin_port = free_port(), free_port(), free_port()
        self.dir = tempfile.mkdtemp(prefix="ward-envoy-")
        self.config_path = os.path.join(self.dir, "envoy.yaml")
        self.log_path = os.path.join(self.dir, "envoy.log")
        with open(self.config_path, "w") as f:
            f.write(envoy_config(policy_json, self.ward_port, self.base_port, self.admin_port, upstream_port, wasm, buffer_bytes,
                                 extra_http_filters=extra_http_filters, collector_port=collector_port))
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [ENVOY, "-c", self.config_path, "--concurrency", str(concurrency), "--base-id", str(free_port()),
             "-l", "warning", "--component-log-level", "wasm:info", "--disable-hot-restart", *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.ready = (not wait) or wait_port(self.ward_port, self.proc)

    def logs(self):
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def audit_events(self):
        out = []
        for line in self.logs().splitlines():
            i = line.find("ward-audit ")
            if i >= 0:
                out.append(json.loads(line[i + len("ward-audit "):]))
        return out

    def stats(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/stats?format=json") as r:
            return {s["name"]: s.get("value") for s in json.load(r)["stats"] if "value" in s}

    def stop(self):
        stop(self.proc)
        self.log.close()


class Collector:
    """`ward collect` writing to `out` (a new temporary directory unless
    given), on `port` (a free one unless given), so a restart can reuse both."""

    def __init__(self, out=None, port=0):
        self.out = out or tempfile.mkdtemp(prefix="ward-trail-")
        self.log_path = os.path.join(self.out + ".log")
        self.port = port
        self.start()

    def start(self):
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen([WARD, "collect", "--listen", f"127.0.0.1:{self.port}", "--out", self.out],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening "):
            raise RuntimeError(f"ward collect did not start: {line!r}\n{self.logs()}")
        self.port = int(line.rsplit(":", 1)[1])

    def kill(self):
        """SIGKILL: no chance to finish anything."""
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def logs(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        stop(self.proc)
        self.log.close()


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rss_bytes(pid):
    """A process's resident set (VmRSS), for the load and soak runs."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def post(port, path, body, headers=None, timeout=10):
    """POSTs and returns (status, headers dict, body bytes)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    h = {"content-type": "application/json"}
    h.update(headers or {})
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers=h, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def sse_events(raw):
    """Splits an SSE body into (event, data) pairs."""
    events = []
    for block in raw.decode().replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        name, data = "", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        events.append((name, "\n".join(data)))
    return events

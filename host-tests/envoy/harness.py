"""Starts the mock upstream and a real Envoy with the Ward filter, on
127.0.0.1, and stops them by PID. Shared by the pytest suite, the demo and
the load run.

Envoy gets two listeners in front of the same upstream: `ward_port` with the
filter, `base_port` without it (the same-run baseline for overhead).
"""

import json
import os
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


def cluster(name, port):
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "2s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]},
    }


def listener(name, port, http_filters):
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": name,
                "generate_request_id": True,
                "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
                    {"match": {"prefix": "/"}, "route": {"cluster": "upstream", "timeout": "30s"}}]}]},
                "http_filters": http_filters + [{
                    "name": "envoy.filters.http.router",
                    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
            },
        }]}],
    }


def ward_filters(policy_json, wasm, buffer_bytes):
    """The buffer filter first: it holds the request until the whole body is
    in, so the upstream never sees headers of a request Ward will block."""
    return [
        {"name": "envoy.filters.http.buffer",
         "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
                          "max_request_bytes": buffer_bytes}},
        {"name": "envoy.filters.http.wasm",
         "typed_config": {
             "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
             "config": {
                 "name": "ward",
                 "root_id": "ward",
                 "fail_open": False,
                 "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": policy_json},
                 "vm_config": {"vm_id": "ward", "runtime": "envoy.wasm.runtime.v8",
                               "code": {"local": {"filename": wasm}}},
             }}},
    ]


def envoy_config(policy_json, ward_port, base_port, admin_port, upstream_port, wasm=WASM, buffer_bytes=None):
    if buffer_bytes is None:
        limit = json.loads(policy_json or "{}").get("limits", {}).get("max_request_bytes", 1 << 20)
        # Twice the policy limit: bodies between the two get Ward's own 413 in
        # the API's error shape; larger ones Envoy's plain 413. Both fail closed.
        buffer_bytes = 2 * limit
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {
            "listeners": [
                listener("ward", ward_port, ward_filters(policy_json, wasm, buffer_bytes)),
                listener("baseline", base_port, []),
            ],
            "clusters": [cluster("upstream", upstream_port)],
        },
    }


class Envoy:
    """A running Envoy. `policy_json` is the plugin configuration string."""

    def __init__(self, policy_json, upstream_port, wasm=WASM, concurrency=1, extra_args=(), buffer_bytes=None, wait=True):
        self.ward_port, self.base_port, self.admin_port = free_port(), free_port(), free_port()
        self.dir = tempfile.mkdtemp(prefix="ward-envoy-")
        self.config_path = os.path.join(self.dir, "envoy.json")
        self.log_path = os.path.join(self.dir, "envoy.log")
        with open(self.config_path, "w") as f:
            json.dump(envoy_config(policy_json, self.ward_port, self.base_port, self.admin_port, upstream_port, wasm, buffer_bytes), f, indent=1)
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


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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

"""Three-way parity: the parity fixtures through (1) the native engine,
(2) the filter module in the wasmtime host (ward-host), (3) the same module
in a real Envoy in front of the mock upstream. Verdicts, statuses, the
bodies the client and the upstream get, and the audit findings (detector,
rule, action, path) must be identical. A disagreement prints the exchange
and the three answers.

The fixtures' responses were recorded from the mock upstream
(host-tests/fixtures/record.py), so Envoy sees the very bytes the other two
hosts replay; the test first checks the recording is still what the mock
sends.
"""

import base64
import json
import os
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

FIXTURES = os.path.join(harness.ROOT, "host-tests", "fixtures")
sys.path.insert(0, FIXTURES)
import record  # noqa: E402

PARITY = os.path.join(FIXTURES, "parity.jsonl")
POLICY = os.path.join(FIXTURES, "parity-policy.json")


def ward_host():
    """The ward-host binary: $WARD_HOST_BIN, else built (no-op when fresh)."""
    if os.environ.get("WARD_HOST_BIN"):
        return os.environ["WARD_HOST_BIN"]
    subprocess.run(["cargo", "build", "-q", "--profile", "host", "-p", "ward-host"], cwd=harness.ROOT, check=True)
    return os.path.join(harness.TARGET, "host", "ward-host")


def as_bytes(v):
    if v is None:
        return None
    if isinstance(v, dict):
        return base64.b64decode(v["b64"])
    return v.encode()


def comparable(verdict_events, status, body, upstream_body, local_reply, error=None):
    """The fields that must agree (see Outcome::comparable in ward-host)."""
    rids = [e.get("request_id") for e in verdict_events if e.get("request_id")]

    def clean(b):
        if b is None:
            return None
        t = b.decode("utf-8", "replace")
        for r in rids:
            t = t.replace(r, "<rid>")
        return t

    actions = [e.get("action") for e in verdict_events]
    verdict = "block" if "block" in actions else "redact" if "redact" in actions else "allow"
    events = [{"direction": e.get("direction"), "action": e.get("action"), "status": e.get("status"),
               "findings": [[f.get("detector"), f.get("rule"), f.get("action"), f.get("path")] for f in e.get("findings", [])]}
              for e in verdict_events]
    return {"verdict": verdict, "status": status, "body": clean(body), "upstream_body": clean(upstream_body),
            "local_reply": local_reply, "audit": events, "error": error}


def from_ward_host(o):
    return comparable(o["audit"], o["status"], as_bytes(o["body"]), as_bytes(o["upstream_body"]), o["local_reply"], o.get("error"))


@pytest.fixture(scope="module")
def exchanges():
    return record.read_jsonl(PARITY)


@pytest.fixture(scope="module")
def mock():
    m = harness.Mock()
    yield m
    m.stop()


def test_recorded_responses_are_what_the_mock_sends(exchanges, mock):
    stale = []
    for ex in exchanges:
        live = record.record_one(mock.port, {k: v for k, v in ex.items() if k != "response"})
        if live["response"] != ex["response"]:
            stale.append(ex["name"])
    assert not stale, f"fixtures out of date (re-run host-tests/fixtures/record.py): {stale}"


def run_envoy(exchanges, mock, policy):
    envoy = harness.Envoy(policy, mock.port)
    try:
        assert envoy.ready, envoy.logs()[-3000:]
        answers = {}
        for ex in exchanges:
            mock.reset()
            status, hdrs, _chunks, body = record.http(envoy.ward_port, *record.request_of(ex))
            seen = mock.seen()
            upstream = seen[0]["body"].encode("latin-1") if seen else None
            h = dict(hdrs)
            rid = h.get("x-ward-request-id") or (seen[0]["headers"].get("x-request-id") if seen else None) \
                or dict(ex["request"]["headers"]).get("x-request-id")
            answers[ex["name"]] = dict(status=status, body=body, upstream=upstream, rid=rid,
                                       local_reply=h.get("x-ward-decision") == "block")
        # Envoy writes the module's log lines asynchronously: wait until every
        # exchange's events are in (or give up and let the comparison show it).
        deadline = time.time() + 5
        while True:
            events = envoy.audit_events()
            ids = {e.get("request_id") for e in events}
            if all(a["rid"] in ids for a in answers.values()) or time.time() > deadline:
                break
            time.sleep(0.1)
        time.sleep(0.2)
        events = envoy.audit_events()
        out = {}
        for name, a in answers.items():
            mine = [e for e in events if e.get("request_id") == a["rid"]]
            out[name] = comparable(mine, a["status"], a["body"], a["upstream"], a["local_reply"])
        return out
    finally:
        envoy.stop()


def test_native_wasmtime_and_envoy_agree(exchanges, mock):
    with open(POLICY) as f:
        policy = f.read()
    run = subprocess.run([ward_host(), "replay", "--host", "both", "--json", "--policy", POLICY, PARITY],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr + run.stdout[-3000:]
    local = {}
    for line in run.stdout.splitlines():
        o = json.loads(line)
        local[(o["name"], o["host"])] = from_ward_host(o)
    envoy = run_envoy(exchanges, mock, policy)

    disagreements = []
    for ex in exchanges:
        name = ex["name"]
        native, wasm, real = local[(name, "native")], local[(name, "wasm")], envoy[name]
        if not (native == wasm == real):
            disagreements.append("\n".join([
                f"== {name}",
                "request:  " + json.dumps(ex["request"])[:600],
                "native:   " + json.dumps(native),
                "wasmtime: " + json.dumps(wasm),
                "envoy:    " + json.dumps(real),
            ]))
    assert not disagreements, f"{len(disagreements)} of {len(exchanges)} exchanges disagree:\n" + "\n".join(disagreements)
    verdicts = {local[(ex["name"], "native")]["verdict"] for ex in exchanges}
    assert {"allow", "block"} <= verdicts, verdicts

"""The demo: Envoy with Ward and the default policy in front of the mock
LLM/MCP upstream; replays examples/demo/requests.jsonl and prints what was
allowed, blocked and redacted, and what the audit trail recorded. The
filter delivers the trail to `ward collect` (the `ward_collector` cluster),
and `ward verify` checks it at the end."""

import json
import os
import subprocess
import sys
import time

import harness as h

POLICY = os.path.join(h.ROOT, "examples", "policies", "default.json")
REQUESTS = os.path.join(h.ROOT, "examples", "demo", "requests.jsonl")


def outcome(status, headers, body, sent_reply):
    if headers.get("x-ward-decision") == "block":
        return "blocked"
    text = body.decode(errors="replace")
    if "Blocked by Ward" in text:
        return "blocked (mid-stream)"
    if sent_reply and "[" in text and sent_reply not in text and any(m in text for m in ("[AWS_KEY]", "[EMAIL]", "[REDACTED")):
        return "redacted"
    return "allowed"


def main():
    mock = h.Mock()
    collector = h.Collector()
    policy = json.load(open(POLICY))
    policy.setdefault("audit", {})["collector"] = {"cluster": "ward_collector", "flush_interval_ms": 200}
    envoy = h.Envoy(json.dumps(policy), mock.port, collector_port=collector.port)
    try:
        if not envoy.ready:
            print(envoy.logs()[-3000:], file=sys.stderr)
            return 1
        print(f"Envoy {h.ENVOY}\n  Ward listener 127.0.0.1:{envoy.ward_port}, policy {os.path.relpath(POLICY, h.ROOT)}\n")
        rows = []
        for line in open(REQUESTS):
            r = json.loads(line)
            body = r["raw"].encode() if "raw" in r else json.dumps(r["body"]).encode()
            status, headers, got = h.post(envoy.ward_port, r["path"], body, r.get("headers"))
            rid = headers.get("x-ward-request-id") or headers.get("x-request-id", "")
            rows.append((r["name"], outcome(status, headers, got, r.get("headers", {}).get("x-mock-reply")), status, rid))
        events = envoy.audit_events()
        w = max(len(n) for n, *_ in rows)
        print(f"{'request':<{w}}  {'verdict':<21} {'HTTP':>4}  request id (audit events: seq)")
        print("-" * (w + 80))
        for name, verdict, status, rid in rows:
            seqs = ",".join(str(ev["seq"]) for ev in events if ev["request_id"] == rid)
            print(f"{name:<{w}}  {verdict:<21} {status:>4}  {rid}  ({seqs})")
        print()
        print(f"Audit trail: {len(events)} hash-chained events (one per request and per response):")
        for ev in events:
            rules = ", ".join(f"{f['rule']}->{f['action']}" for f in ev["findings"]) or "-"
            print(f"  {ev['chain'][-6:]}:{ev['seq']:<3} {ev['request_id'][:8]} {ev['direction']:<8} {ev['action']:<6} {rules}")
        # Delivery is batched on a tick: wait for the last batch.
        deadline = time.time() + 10
        while envoy.stats().get("wasmcustom.ward.audit.delivered", 0) < len(events) and time.time() < deadline:
            time.sleep(0.1)
        stats = {k[len('wasmcustom.'):]: v for k, v in envoy.stats().items() if k.startswith("wasmcustom.ward.")}
        print("\nEnvoy stats:", ", ".join(f"{k}={v}" for k, v in sorted(stats.items())))
        verify = subprocess.run([h.WARD, "verify", collector.out], capture_output=True, text=True)
        print(f"\nCollector trail in {collector.out}\n$ ward verify {collector.out}\n{verify.stdout.rstrip()}")
        return verify.returncode
    finally:
        envoy.stop()
        collector.stop()
        mock.stop()


if __name__ == "__main__":
    sys.exit(main())

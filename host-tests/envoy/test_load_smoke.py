"""The load tooling (benches/envoy_load.py) in smoke mode: it completes,
both listeners answered, and Ward allowed every benign request unchanged.
Timing figures are not asserted: this machine is shared and noisy."""

import json
import os
import subprocess
import sys

import harness as h

SCRIPT = os.path.join(h.ROOT, "benches", "envoy_load.py")


def test_load_smoke(tmp_path):
    out = tmp_path / "envoy_load.json"
    p = subprocess.run([sys.executable, SCRIPT, "--smoke", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    r = json.loads(out.read_text())
    checks = r["checks"]
    assert checks["ward"]["sent"] > 0 and checks["baseline"]["sent"] > 0
    assert checks["ward"]["allow"] == checks["ward"]["sent"], checks
    assert checks["ward"]["5xx"] == 0 and checks["baseline"]["5xx"] == 0, checks
    assert checks["baseline"]["ok"] == checks["baseline"]["sent"], checks
    assert set(r["latency_c1"]) == {"chat_4k", "rag_64k", "stream_4k"}
    for mix in ("chat_4k_mix", "rag_64k"):
        t = r["throughput"][mix]
        for who in ("ward", "baseline"):
            assert t[who]["requests"] > 0, (mix, who, t[who])
            assert t[who]["non2xx"] == 0 and t[who]["socket_errors"] == 0, (mix, who, t[who])

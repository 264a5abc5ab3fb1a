"""The soak script (host-tests/envoy/soak.py) in a short run: mixed traffic
with bad input through Envoy, every decision at the collector, the trail
verified, memory sampled. The full run is several minutes (docs/security.md)."""

import json
import os
import subprocess
import sys

import harness as h

SOAK = os.path.join(h.HERE, "soak.py")


def test_short_soak_holds_its_three_properties(tmp_path):
    out = tmp_path / "soak.json"
    run = subprocess.run([sys.executable, SOAK, "--seconds", "12", "--clients", "3", "--out", str(out)],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    assert result["failures"] == []
    # Every class was exercised, bad input included, and each got only its allowed answers.
    assert all(c["sent"] > 0 for c in result["classes"].values())
    assert result["unexpected_count"] == 0
    assert result["decisions"] > result["requests"] // 2
    assert result["collected"] == result["decisions"] and result["dropped"] == 0
    assert result["verify"]["exit"] == 0

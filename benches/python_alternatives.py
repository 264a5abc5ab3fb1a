#!/usr/bin/env python3
"""Ward's engine against the Python guardrails a user would pick instead,
on the same texts, in the same run: per-call CPU time (median).

- detect-secrets (default plugins, `SecretsCollection.scan_file`);
- presidio-analyzer with its regex/checksum recognizers on a blank spaCy
  pipeline (`spacy.blank("en")`: no model download, so no NER);
- Ward, natively, through `benches/examples/per_call.rs` (release build):
  `scan` (every detector over the text) and `inspect` (the text as the user
  message of a Chat Completions request: parse, scan, decide), with the
  default policy.

The texts (about 2 KB and 20 KB of English chat with two made-up secrets
and an e-mail address) are generated here. The Python packages go into a
separate virtualenv, $WARD_CACHE/bench-venv, created on first run.

    python3 benches/python_alternatives.py [--out FILE]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, ".."))
CACHE = os.environ.get("WARD_CACHE", os.path.expanduser("~/.cache/ward"))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(CACHE, "target"))
VENV = os.path.join(CACHE, "bench-venv")
VENV_PY = os.path.join(VENV, "bin", "python")
PACKAGES = ["detect-secrets", "presidio-analyzer", "spacy"]
POLICY = os.path.join(ROOT, "examples", "policies", "default.json")
SIZES = {"2k": 2048, "20k": 20480}
CALLS = {"2k": 30, "20k": 10}


def ensure_venv():
    """Re-runs this script inside the bench virtualenv, creating it first."""
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    probe = [VENV_PY, "-c", "import detect_secrets, presidio_analyzer, spacy"]
    if not (os.path.exists(VENV_PY) and subprocess.run(probe, capture_output=True).returncode == 0):
        print(f"installing {' '.join(PACKAGES)} into {VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([VENV_PY, "-m", "pip", "install", "-q", *PACKAGES], check=True)
    os.execv(VENV_PY, [VENV_PY, os.path.abspath(__file__), *sys.argv[1:]])


# -- texts --------------------------------------------------------------------

OPENERS = ["Could you help me", "I was wondering how to", "Please explain how to", "What is the best way to",
           "I need to", "My team wants to", "Is it possible to"]
VERBS = ["plan", "write", "summarise", "organise", "compare", "budget for", "translate", "review", "schedule"]
OBJECTS = ["a weekend trip to the coast", "the quarterly sales report", "a birthday dinner for eight people",
           "my resume for a design job", "a Python script that parses logs", "the meeting notes from Tuesday",
           "our garden watering schedule", "a polite email to my landlord"]
TAILS = ["Thanks a lot!", "Keep it short, please.", "I have about an hour.", "Bullet points would be great.", ""]
# Made up, shaped like the real thing so both kinds of scanner have work.
PLANTED = ["By the way, the deploy job uses AKIA" + "4HK7RZ2WQ6TXN5BM as its key id. ",
           "Send the draft to jane.mercer@example.org when it is done. ",
           "The old token was ghp_" + "x7Kq2LmN9pR4sT6vW8yZ1aB3cD5eF0gH2jK4 but I revoked it. "]


def chat_text(size):
    x, out, n = 0x9E3779B97F4A7C15, [], 0

    def pick(k):
        nonlocal x
        x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 7
        x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF
        return x % k
    budget = size - sum(len(p) for p in PLANTED)
    while n < budget:
        s = f"{OPENERS[pick(len(OPENERS))]} {VERBS[pick(len(VERBS))]} {OBJECTS[pick(len(OBJECTS))]}. " \
            f"{TAILS[pick(len(TAILS))]}{chr(10) if pick(5) == 0 else ' '}"
        out.append(s)
        n += len(s)
    for i, p in enumerate(PLANTED):
        out.insert((i + 1) * len(out) // (len(PLANTED) + 1), p)
    return "".join(out)[:size]


# -- measurements -------------------------------------------------------------

def cpu_median_ms(call, calls):
    for _ in range(2):
        call()
    times = []
    for _ in range(calls):
        t0 = time.thread_time_ns()
        call()
        times.append(time.thread_time_ns() - t0)
    return statistics.median(times) / 1e6


def detect_secrets_call(path):
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    def call():
        with default_settings():
            found = SecretsCollection()
            found.scan_file(path)
        return sum(len(v) for v in found.data.values())
    return call


def presidio_call(text):
    import spacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    class BlankSpacy(SpacyNlpEngine):
        def load(self):
            self.nlp = {"en": spacy.blank("en")}

    nlp = BlankSpacy(models=[{"lang_code": "en", "model_name": "blank"}])
    nlp.load()
    analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    return lambda: len(analyzer.analyze(text=text, language="en"))


def ward_per_call(paths, build=True):
    env = dict(os.environ, CARGO_TARGET_DIR=TARGET)
    if build:
        subprocess.run(["cargo", "build", "-q", "--release", "-p", "ward-benches", "--example", "per_call"],
                       cwd=ROOT, env=env, check=True)
    exe = os.path.join(TARGET, "release", "examples", "per_call")
    out = subprocess.run([exe, POLICY, *paths], capture_output=True, text=True, check=True).stdout
    return {r["file"]: r for r in json.loads(out)}


def load_average():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(CACHE, "bench", "python_alternatives.json"))
    ap.add_argument("--no-build", action="store_true", help="use the per_call example already built")
    args = ap.parse_args()
    ensure_venv()
    import logging
    logging.disable(logging.WARNING)  # presidio warns about the blank pipeline's missing NER

    result = {"load_average_before": load_average(), "nproc": os.cpu_count(), "texts": {}}
    with tempfile.TemporaryDirectory(prefix="ward-pyalt-") as tmp:
        paths = {}
        for name, size in SIZES.items():
            paths[name] = os.path.join(tmp, f"chat_{name}.txt")
            with open(paths[name], "w") as f:
                f.write(chat_text(size))
        ward = ward_per_call(list(paths.values()), build=not args.no_build)
        for name, path in paths.items():
            text = open(path).read()
            ds, pr = detect_secrets_call(path), presidio_call(text)
            w = ward[path]
            row = {"bytes": len(text.encode()),
                   "detect_secrets_ms": cpu_median_ms(ds, CALLS[name]), "detect_secrets_findings": ds(),
                   "presidio_regex_ms": cpu_median_ms(pr, CALLS[name]), "presidio_findings": pr(),
                   "ward_scan_ms": w["scan_ns"] / 1e6, "ward_inspect_ms": w["inspect_ns"] / 1e6,
                   "ward_findings": w["findings"],
                   "ward_detector_ms": {k: v / 1e6 for k, v in w["detector_ns"].items()}}
            for alt in ("detect_secrets", "presidio_regex"):
                row[f"{alt}_over_ward_inspect"] = row[f"{alt}_ms"] / row["ward_inspect_ms"]
                row[f"{alt}_over_ward_scan"] = row[f"{alt}_ms"] / row["ward_scan_ms"]
            result["texts"][name] = row
    result["load_average_after"] = load_average()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)

    print(f"load average before {result['load_average_before']}, after {result['load_average_after']} "
          f"({result['nproc']} CPUs); per-call CPU time, median")
    print(f"{'text':>5} {'bytes':>6} {'detect-secrets':>15} {'presidio (regex)':>17} {'Ward scan':>10} {'Ward inspect':>13}"
          f"   ratio to Ward inspect (ds / presidio)")
    for name, r in result["texts"].items():
        print(f"{name:>5} {r['bytes']:>6} {r['detect_secrets_ms']:>12.2f} ms {r['presidio_regex_ms']:>14.2f} ms "
              f"{r['ward_scan_ms']:>7.3f} ms {r['ward_inspect_ms']:>10.3f} ms   "
              f"{r['detect_secrets_over_ward_inspect']:.0f}x / {r['presidio_regex_over_ward_inspect']:.0f}x")
    for name, r in result["texts"].items():
        print(f"Ward scan by detector, {name}: " + ", ".join(f"{k} {v:.3f} ms" for k, v in r["ward_detector_ms"].items()))
    print("findings (detect-secrets / presidio / Ward):",
          {n: (r["detect_secrets_findings"], r["presidio_findings"], r["ward_findings"]) for n, r in result["texts"].items()})
    print(f"\nJSON: {args.out}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""What Ward costs inside a real Envoy, against a listener without it in the
same Envoy and the same run.

Starts the mock upstream and Envoy (concurrency 2) through the test harness
(host-tests/envoy/harness.py), then, on 127.0.0.1 only:

1. latency at concurrency 1: one keep-alive connection per listener, the
   two listeners alternated request by request, for 4 KB chat requests with
   tools, 64 KB RAG requests and streamed (SSE) chat answers; added latency
   is the Ward listener's percentile minus the baseline's;
2. throughput: `wrk` (a Lua script sends the POST bodies) against each
   listener in alternating rounds of fixed duration, for the 4 KB chat mix
   (one request in four streamed) and for the 64 KB RAG requests, with
   Envoy's CPU (utime + stime from /proc/PID/stat) per request of each run;
3. memory: Envoy's resident set (/proc/PID/status VmRSS) with the filter
   idle and after the run, against an Envoy started from the same config
   with the Ward filter removed; divided by the number of Wasm VMs.

Every request carries new text, as real traffic does: by default
(`--reuse history`) a chat request re-sends the conversation so far and only
its last user message is new (a per-request tag at its start), and a RAG
request's whole user message (documents and question) is new; with
`--reuse none` every message of every request is new. Ward keeps the
findings of long segments it has already scanned (`limits.scan_cache_bytes`),
so the two settings bracket what it costs on real traffic.

Every Ward answer must be an allow that matches the baseline's answer byte
for byte; anything else is counted and reported. Bounded by request counts
and durations; stops Envoy and the mock by PID. Prints a table and writes
JSON (default $WARD_CACHE/bench/envoy_load.json).

    ~/.cache/ward/venv/bin/python benches/envoy_load.py [--smoke] [--out FILE]
"""

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "host-tests", "envoy"))
import harness as h  # noqa: E402

POLICY = os.path.join(h.ROOT, "examples", "policies", "default.json")
CHAT = "/v1/chat/completions"
TICKS = os.sysconf("SC_CLK_TCK")

# -- request bodies -----------------------------------------------------------

OPENERS = ["Could you help me", "I was wondering how to", "Please explain how to", "Can you show me a way to",
           "What is the best way to", "I need to", "My team wants to", "Is it possible to"]
VERBS = ["plan", "write", "summarise", "organise", "compare", "cook", "budget for", "translate", "review",
         "improve", "schedule", "debug"]
OBJECTS = ["a weekend trip to the coast", "the quarterly sales report", "a birthday dinner for eight people",
           "my resume for a design job", "a Python script that parses logs", "the meeting notes from Tuesday",
           "a short story about a lighthouse keeper", "our garden watering schedule",
           "the differences between two phone plans", "a polite email to my landlord"]
TAILS = ["Thanks a lot!", "Keep it short, please.", "I have about an hour.", "It should be friendly but professional.",
         "Bullet points would be great.", "We're on a tight budget.", "Any tips are welcome.", ""]
FACTS = ["The warehouse in Leeds ships orders within two working days.",
         "Refunds are issued to the original payment method after inspection.",
         "The premium plan includes priority support and a dedicated account manager.",
         "Firmware 4.2 fixed the battery drain reported on older tablets.",
         "Our office is closed on public holidays and reopens the next working day.",
         "The garden centre stocks native plants that need little watering.",
         "Each subscription can be shared with up to five family members.",
         "Invoices are sent on the first day of every month."]


def rng(seed):
    x = seed

    def pick(n):
        nonlocal x
        x ^= (x << 13) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 7
        x ^= (x << 17) & 0xFFFFFFFFFFFFFFFF
        return x % n
    return pick


def chat_text(size, seed=0x9E3779B97F4A7C15):
    pick, out, n = rng(seed), [], 0
    while n < size:
        s = f"{OPENERS[pick(len(OPENERS))]} {VERBS[pick(len(VERBS))]} {OBJECTS[pick(len(OBJECTS))]}" \
            f"{'? ' if pick(3) == 0 else '. '}{TAILS[pick(len(TAILS))]}{chr(10) if pick(5) == 0 else ' '}"
        out.append(s)
        n += len(s)
    return "".join(out)


def documents(size, seed=0x1234567):
    pick, out, n, i = rng(seed), [], 0, 1
    while n < size:
        doc = f"[{i}] " + " ".join(FACTS[pick(len(FACTS))] for _ in range(6)) + "\n"
        out.append(doc)
        n, i = n + len(doc), i + 1
    return "".join(out)


TOOLS = [
    {"type": "function", "function": {"name": "search_docs", "description": "Search the product documentation.",
                                      "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                                                     "required": ["query"]}}},
    {"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city.",
                                      "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                     "required": ["city"]}}},
]


def fit(make, size):
    """The body `make(n)` builds, with `n` grown until it is about `size` bytes."""
    n = size
    body = make(n)
    for _ in range(4):
        n += size - len(body)
        body = make(n)
    return body


def chat_body(size, stream=False):
    def make(n):
        history = chat_text(max(n - 900, 64))
        third = len(history) // 3
        msgs = [{"role": "system", "content": "You are a helpful assistant for a small online shop."},
                {"role": "user", "content": history[:third]},
                {"role": "assistant", "content": history[third:2 * third]},
                {"role": "user", "content": history[2 * third:]}]
        return json.dumps({"model": "gpt-4o-mini", "messages": msgs, "tools": TOOLS, "stream": stream}).encode()
    return fit(make, size)


def rag_body(size):
    def make(n):
        msgs = [{"role": "system", "content": "Answer using only the documents below. Cite them by number."},
                {"role": "user", "content": "Documents:\n" + documents(max(n - 600, 64)) +
                 "\nQuestion: how long do refunds take, and who gets priority support?"}]
        return json.dumps({"model": "gpt-4o-mini", "messages": msgs, "tools": TOOLS[:1]}).encode()
    return fit(make, size)


STREAM_REPLY = ("Sure. Refunds go back to the original payment method once the item has been inspected, "
                "which usually takes two working days from the warehouse in Leeds. Premium customers get "
                "priority support and a dedicated account manager. Anything else I can help with?")
STREAM_HEADERS = {"x-mock-reply": STREAM_REPLY, "x-mock-chunk": "12"}


def tag_points(body, reuse):
    """Byte offsets where a request's unique tag goes: the start of the last
    user message (`history`: what a new turn adds to a conversation) or of
    every message (`none`)."""
    opens = [m.end() for m in re.finditer(rb'"content": "', body)]
    if reuse == "none":
        return opens
    users = [m.end() for m in re.finditer(rb'"role": "user", "content": "', body)]
    return users[-1:]


def tagged(body, points, tag):
    """`body` with `tag` inserted at each of `points` (JSON-safe text)."""
    out, last = [], 0
    for p in points:
        out += [body[last:p], tag]
        last = p
    out.append(body[last:])
    return b"".join(out)


def kinds():
    """name -> (body, extra headers)."""
    return {"chat_4k": (chat_body(4096), {}),
            "rag_64k": (rag_body(65536), {}),
            "stream_4k": (chat_body(4096, stream=True), STREAM_HEADERS),
            # A long conversation (not in the default run: --kinds).
            "chat_32k": (chat_body(32768), {})}


DEFAULT_KINDS = "chat_4k,rag_64k,stream_4k"


# -- process figures ----------------------------------------------------------

def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def admin_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return json.load(r)


def load_average():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


# -- latency at concurrency 1 -------------------------------------------------

class Client:
    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, body, headers):
        hdrs = {"content-type": "application/json", **headers}
        t0 = time.perf_counter_ns()
        try:
            self.conn.request("POST", CHAT, body=body, headers=hdrs)
            r = self.conn.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            return time.perf_counter_ns() - t0, 0, {}, b""
        return time.perf_counter_ns() - t0, r.status, {k.lower(): v for k, v in r.getheaders()}, data


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def latency_phase(env, mock, reqs, counts, deadline, reuse):
    ward, base = Client(env.ward_port), Client(env.base_port)
    salt = os.urandom(4).hex()
    out, checks = {}, {"ward": {"sent": 0, "allow": 0, "other": 0, "5xx": 0}, "baseline": {"sent": 0, "ok": 0, "5xx": 0}}
    for name, (template, headers) in reqs.items():
        w, b = [], []
        points = tag_points(template, reuse)
        for i in range(counts[name]):
            if time.time() > deadline:
                break
            body = tagged(template, points, f"[{salt}-{i}] ".encode())
            # Alternate which listener goes first so neither always follows the other.
            order = [(ward, w, "ward"), (base, b, "baseline")]
            if i % 2:
                order.reverse()
            answers = {}
            for client, sink, who in order:
                ns, status, hdrs, data = client.post(body, headers)
                sink.append(ns)
                answers[who] = (status, hdrs, data)
                checks[who]["sent"] += 1
                if status >= 500 or status == 0:
                    checks[who]["5xx"] += 1
            (ws, wh, wd), (bs, _, bd) = answers["ward"], answers["baseline"]
            if bs == 200:
                checks["baseline"]["ok"] += 1
            if ws == 200 and wh.get("x-ward-decision", "allow") == "allow" and wd == bd:
                checks["ward"]["allow"] += 1
            else:
                checks["ward"]["other"] += 1
        mock.reset()  # the mock keeps every body it saw: keep its memory bounded
        if not w:
            continue
        out[name] = {
            "samples": len(w),
            "ward_us": {"p50": pct(w, 50) / 1e3, "p99": pct(w, 99) / 1e3},
            "baseline_us": {"p50": pct(b, 50) / 1e3, "p99": pct(b, 99) / 1e3},
            "added_us": {"p50": (pct(w, 50) - pct(b, 50)) / 1e3, "p99": (pct(w, 99) - pct(b, 99)) / 1e3,
                         "paired_p50": statistics.median(x - y for x, y in zip(w, b)) / 1e3},
        }
    return out, checks


# -- throughput with wrk ------------------------------------------------------

LUA = r"""
local files = {FILES}
local reqs = {}
init = function(args)
  for _, f in ipairs(files) do
    local h = io.open(f.path, "rb"); local body = h:read("*a"); h:close()
    local headers = {["content-type"] = "application/json"}
    for k, v in pairs(f.headers) do headers[k] = v end
    -- The body cut where each request's unique tag goes.
    local pieces, last = {}, 1
    for _, p in ipairs(f.points) do
      table.insert(pieces, body:sub(last, p)); last = p + 1
    end
    table.insert(pieces, body:sub(last))
    for _ = 1, f.weight do table.insert(reqs, {headers = headers, pieces = pieces}) end
  end
end
local i, n = 0, 0
local salt = string.format("%x%x", os.time(), math.floor(os.clock() * 1e6))
request = function()
  i = i % #reqs + 1
  n = n + 1
  local r = reqs[i]
  return wrk.format("POST", "/v1/chat/completions", r.headers, table.concat(r.pieces, "[" .. salt .. "-" .. n .. "] "))
end
done = function(summary, latency, requests)
  io.write(string.format('WRK_JSON {"requests": %d, "duration_us": %d, "non2xx": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def lua_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_lua(dirname, name, mix, reqs, reuse):
    entries = []
    for kind, weight in mix:
        body, headers = reqs[kind]
        points = ", ".join(str(p) for p in tag_points(body, reuse))
        path = os.path.join(dirname, kind + ".json")
        with open(path, "wb") as f:
            f.write(body)
        hdr = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items())
        entries.append(f"{{path = {lua_string(path)}, weight = {weight}, points = {{{points}}}, headers = {{{hdr}}}}}")
    script = os.path.join(dirname, name + ".lua")
    with open(script, "w") as f:
        f.write(LUA.replace("{FILES}", "{" + ", ".join(entries) + "}"))
    return script


def run_wrk(script, port, seconds, connections, envoy_pid):
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", script, f"http://127.0.0.1:{port}"]
    cpu0, t0 = cpu_seconds(envoy_pid), time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    cpu1 = cpu_seconds(envoy_pid)
    m = re.search(r"WRK_JSON (\{.*\})", p.stdout)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({p.returncode}): {p.stdout}\n{p.stderr}")
    res = json.loads(m.group(1))
    res["envoy_cpu_s"] = cpu1 - cpu0
    res["wall_s"] = time.time() - t0
    return res


MIXES = {"chat_4k_mix": [("chat_4k", 3), ("stream_4k", 1)], "rag_64k": [("rag_64k", 1)],
         # Not run by default: the two halves of the 4 KB mix, for breakdowns.
         "chat_4k": [("chat_4k", 1)], "stream_4k": [("stream_4k", 1)]}
DEFAULT_MIXES = "chat_4k_mix,rag_64k"


def throughput_phase(env, mock, reqs, tmp, rounds, seconds, connections, deadline, reuse, mixes=tuple(MIXES)):
    out = {}
    for name in mixes:
        mix = MIXES[name]
        script = write_lua(tmp, name, mix, reqs, reuse)
        runs = {"ward": [], "baseline": []}
        for r in range(rounds):
            if time.time() + 2 * seconds > deadline:
                break
            order = [("ward", env.ward_port), ("baseline", env.base_port)]
            if r % 2:
                order.reverse()
            for who, port in order:
                runs[who].append(run_wrk(script, port, seconds, connections, env.proc.pid))
                mock.reset()
        if not runs["ward"]:
            continue
        res = {}
        for who, rs in runs.items():
            n = sum(x["requests"] for x in rs)
            secs = sum(x["duration_us"] for x in rs) / 1e6
            cpu = sum(x["envoy_cpu_s"] for x in rs)
            res[who] = {"requests": n, "rps": n / secs, "non2xx": sum(x["non2xx"] for x in rs),
                        "socket_errors": sum(x["connect"] + x["read"] + x["write"] + x["timeout"] for x in rs),
                        "envoy_cpu_us_per_request": cpu / n * 1e6 if n else None,
                        "p50_us": statistics.median(x["p50_us"] for x in rs), "runs": rs}
        res["throughput_ratio"] = res["ward"]["rps"] / res["baseline"]["rps"]
        wc, bc = res["ward"]["envoy_cpu_us_per_request"], res["baseline"]["envoy_cpu_us_per_request"]
        res["added_envoy_cpu_us_per_request"] = wc - bc if wc and bc else None
        out[name] = res
    return out


# -- memory -------------------------------------------------------------------

def strip_ward(config_text):
    """The same config with the Ward (wasm) filter item removed."""
    return re.sub(r"\n( *)- name: envoy\.filters\.http\.wasm\n(?:\1 .*\n)+", "\n", config_text)


def rss_without_filter(env, settle):
    with open(env.config_path) as f:
        text = strip_ward(f.read())
    if "envoy.filters.http.wasm" in text:
        return None
    d = tempfile.mkdtemp(prefix="ward-envoy-nofilter-")
    ports = [h.free_port() for _ in range(3)]
    text = text.replace(f"port_value: {env.ward_port}", f"port_value: {ports[0]}") \
        .replace(f"port_value: {env.base_port}", f"port_value: {ports[1]}") \
        .replace(f"port_value: {env.admin_port}", f"port_value: {ports[2]}")
    path = os.path.join(d, "envoy.yaml")
    with open(path, "w") as f:
        f.write(text)
    with open(os.path.join(d, "envoy.log"), "w") as log:
        p = subprocess.Popen([h.ENVOY, "-c", path, "--concurrency", "2", "--base-id", str(h.free_port()),
                              "-l", "warning", "--disable-hot-restart"], stdout=log, stderr=subprocess.STDOUT)
    try:
        if not h.wait_port(ports[0], p):
            return None
        time.sleep(settle)
        return h.rss_bytes(p.pid)
    finally:
        h.stop(p)
        shutil.rmtree(d, ignore_errors=True)


def wasm_stats(env):
    try:
        return {k: v for k, v in env.stats().items() if "wasm" in k}
    except OSError:
        return {}


def provenance(wasm):
    """Which filter build and source tree the figures belong to."""
    import hashlib
    with open(wasm, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    git = lambda *a: subprocess.run(["git", *a], cwd=h.ROOT, capture_output=True, text=True).stdout.strip()  # noqa: E731
    return {"wasm": wasm, "wasm_sha256": digest, "wasm_mtime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.path.getmtime(wasm))),
            "git_head": git("rev-parse", "HEAD"), "git_dirty": bool(git("status", "--porcelain"))}


def quiet_mock(log_path):
    """The harness's mock with its stderr in a file: wrk stops mid-request
    when its time is up, and the mock prints a traceback per broken pipe."""
    saved = os.dup(2)
    with open(log_path, "w") as log:
        os.dup2(log.fileno(), 2)
        try:
            return h.Mock()
        finally:
            os.dup2(saved, 2)
            os.close(saved)


# -- main ---------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="a few hundred requests: checks the tooling, not the figures")
    ap.add_argument("--out", default=os.path.join(h.CACHE, "bench", "envoy_load.json"))
    ap.add_argument("--concurrency", type=int, default=2, help="Envoy worker threads")
    ap.add_argument("--connections", type=int, default=8, help="wrk connections in the throughput phase")
    ap.add_argument("--seconds", type=int, default=5, help="duration of one wrk run")
    ap.add_argument("--rounds", type=int, default=3, help="wrk runs per listener and mix")
    ap.add_argument("--budget", type=int, default=600, help="wall-clock limit of the whole run, seconds")
    ap.add_argument("--policy", default=POLICY, help="the filter's policy (default: examples/policies/default.json)")
    ap.add_argument("--wasm", default=h.WASM, help="the filter module (default: $WARD_FILTER_WASM or the release build)")
    ap.add_argument("--phases", default="latency,throughput,memory",
                    help="comma-separated subset of latency, throughput, memory (to compare policies or builds quickly)")
    ap.add_argument("--mixes", default=DEFAULT_MIXES, help="comma-separated wrk mixes: " + ", ".join(MIXES))
    ap.add_argument("--kinds", default=DEFAULT_KINDS,
                    help="request kinds of the latency phase: chat_4k, rag_64k, stream_4k, chat_32k")
    ap.add_argument("--reuse", choices=["history", "none"], default="history",
                    help="what each request repeats from earlier ones: the conversation before its last user "
                         "message (default), or nothing (every message new)")
    args = ap.parse_args()
    phases = set(args.phases.split(","))
    mixes = [m for m in args.mixes.split(",") if m in MIXES]
    if args.smoke:
        counts, rounds, seconds = {"chat_4k": 60, "rag_64k": 20, "stream_4k": 20, "chat_32k": 20}, 1, 1
    else:
        counts, rounds, seconds = {"chat_4k": 2000, "rag_64k": 500, "stream_4k": 500, "chat_32k": 500}, args.rounds, args.seconds
    for need in (h.ENVOY, args.wasm, args.policy):
        if not os.path.exists(need):
            sys.exit(f"missing {need}: run scripts/setup.sh and scripts/build.sh")
    if not shutil.which("wrk"):
        sys.exit("missing wrk: apt-get install wrk")

    start = time.time()
    deadline = start + args.budget
    wanted = args.kinds.split(",")
    reqs = {k: v for k, v in kinds().items() if k in wanted or any(k in dict(MIXES[m]) for m in mixes)}
    counts = {k: counts.get(k, 0) if k in wanted else 0 for k in reqs}
    result = {"smoke": args.smoke, "envoy_concurrency": args.concurrency, "load_average_before": load_average(),
              "nproc": os.cpu_count(), "body_bytes": {k: len(v[0]) for k, v in reqs.items()}}
    tmp = tempfile.mkdtemp(prefix="ward-load-")
    result["build"] = provenance(args.wasm)
    result["policy"] = os.path.relpath(os.path.abspath(args.policy), h.ROOT)
    mock = quiet_mock(os.path.join(tmp, "mock.log"))
    env = h.Envoy(open(args.policy).read(), mock.port, wasm=args.wasm, concurrency=args.concurrency)
    try:
        if not env.ready:
            raise RuntimeError("Envoy did not start:\n" + env.logs())
        time.sleep(0.5)
        rss_idle = h.rss_bytes(env.proc.pid)
        # Warm up both listeners (V8 tiers up the module on first use).
        warm = Client(env.ward_port), Client(env.base_port)
        for _ in range(5 if args.smoke else 50):
            for body, headers in reqs.values():
                for c in warm:
                    c.post(body, headers)
        mock.reset()
        if "latency" not in phases:
            counts = {k: 0 for k in counts}
        result["reuse"] = args.reuse
        result["latency_c1"], result["checks"] = latency_phase(env, mock, reqs, counts, deadline, args.reuse)
        result["throughput"] = throughput_phase(env, mock, reqs, tmp, rounds, seconds, args.connections, deadline,
                                                args.reuse, mixes if "throughput" in phases else [])
        rss_after = h.rss_bytes(env.proc.pid)
        stats = wasm_stats(env)
        try:
            memory = admin_json(env.admin_port, "/memory")
        except OSError:
            memory = {}
        rss_plain = rss_without_filter(env, 0.5) if "memory" in phases else None
        # Envoy counts its VMs (one per worker, the main thread's, and the
        # base VM it clones them from); guess only if it does not say.
        vms = int(stats.get("wasm.wasm_vm_count") or args.concurrency + 1)
        result["memory"] = {
            "source": "/proc/PID/status VmRSS of Envoy, against an Envoy from the same config without the Ward filter",
            "vms": vms, "vms_source": "wasm.wasm_vm_count" if stats.get("wasm.wasm_vm_count") else "guess", "rss_idle": rss_idle, "rss_after_run": rss_after, "rss_without_filter_idle": rss_plain,
            "per_vm_bytes_idle": (rss_idle - rss_plain) / vms if rss_plain else None,
            "per_vm_bytes_after_run": (rss_after - rss_plain) / vms if rss_plain else None,
            "envoy_admin_memory": memory, "wasm_stats": stats,
        }
        result["envoy_log_errors"] = [l for l in env.logs().splitlines() if "critical" in l or "[error]" in l][:10]
    finally:
        env.stop()
        mock.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    result["load_average_after"] = load_average()
    result["wall_s"] = time.time() - start
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print_table(result)
    print(f"\nJSON: {args.out}")
    bad = result["checks"]["ward"]["other"] + sum(t[w]["non2xx"] + t[w]["socket_errors"]
                                                  for t in result["throughput"].values() for w in ("ward", "baseline"))
    return 1 if bad else 0


def print_table(r):
    print(f"reuse: {r.get('reuse')}; load average before {r['load_average_before']}, after {r['load_average_after']} ({r['nproc']} CPUs)"
          f"{'  [smoke: figures meaningless]' if r['smoke'] else ''}")
    print("\nLatency at concurrency 1 (µs)        baseline p50/p99     Ward p50/p99     added p50/p99 (paired p50)")
    for name, x in r["latency_c1"].items():
        print(f"  {name:10} {r['body_bytes'][name]:>7} B  n={x['samples']:<5} "
              f"{x['baseline_us']['p50']:>8.0f} / {x['baseline_us']['p99']:<8.0f} "
              f"{x['ward_us']['p50']:>8.0f} / {x['ward_us']['p99']:<8.0f} "
              f"{x['added_us']['p50']:>7.0f} / {x['added_us']['p99']:<7.0f} ({x['added_us']['paired_p50']:.0f})")
    print("\nThroughput (wrk)       baseline req/s  Ward req/s  ratio   Envoy CPU µs/req baseline  Ward  added")
    for name, x in r["throughput"].items():
        print(f"  {name:12} {x['baseline']['rps']:>14.0f} {x['ward']['rps']:>11.0f} {x['throughput_ratio']:>6.2f} "
              f"{x['baseline']['envoy_cpu_us_per_request']:>25.0f} {x['ward']['envoy_cpu_us_per_request']:>5.0f} "
              f"{x['added_envoy_cpu_us_per_request']:>6.0f}")
    m = r["memory"]
    mib = lambda b: f"{b / 2**20:.1f} MiB" if b is not None else "n/a"  # noqa: E731
    print(f"\nMemory (VmRSS): with Ward idle {mib(m['rss_idle'])}, after run {mib(m['rss_after_run'])}, "
          f"same config without Ward idle {mib(m['rss_without_filter_idle'])}; per VM ({m['vms']} VMs): "
          f"idle {mib(m['per_vm_bytes_idle'])}, after run {mib(m['per_vm_bytes_after_run'])}")
    c = r["checks"]
    print(f"\nChecks: Ward {c['ward']['allow']}/{c['ward']['sent']} allows matching the baseline byte for byte, "
          f"{c['ward']['other']} other, {c['ward']['5xx']} 5xx/failed; baseline {c['baseline']['ok']}/{c['baseline']['sent']} ok")


if __name__ == "__main__":
    sys.exit(main())

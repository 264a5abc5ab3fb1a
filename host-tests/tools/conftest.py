"""Fixtures for the tests of `ward`'s audit tools: the binary, and trails
sealed here in Python with the hash recipe docs/audit.md documents (so the
recipe itself is under test, not only the Rust code that follows it)."""

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GENESIS = "0" * 64
T0 = 1_795_255_200_000  # 2026-11-21T10:00:00Z


@pytest.fixture(scope="session")
def ward_bin():
    """The `ward` binary: $WARD_BIN, else a debug build in the shared target dir (built if absent)."""
    explicit = os.environ.get("WARD_BIN")
    if explicit:
        return explicit
    target = os.environ.get("CARGO_TARGET_DIR", str(Path.home() / ".cache/ward/target"))
    subprocess.run(["cargo", "build", "-q", "-p", "ward-cli"], cwd=ROOT, check=True, env=dict(os.environ, CARGO_TARGET_DIR=target))
    return str(Path(target) / "debug" / "ward")


def canonical(obj):
    """Sorted keys, no whitespace, non-ASCII as is: the form every event hash is taken over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def seal(events, chain):
    """JSON lines of `events` linked into one chain, as a filter would seal them."""
    prev, lines = GENESIS, []
    for seq, event in enumerate(events):
        event = dict(event, chain=chain, seq=seq, prev=prev)
        event["hash"] = hashlib.sha256(canonical(event).encode()).hexdigest()
        prev = event["hash"]
        lines.append(json.dumps(event, separators=(",", ":"), ensure_ascii=False))
    return lines


def event(i, agent, session, action="allow", findings=(), **extra):
    e = {
        "v": 1,
        "time_ms": T0 + i * 1000,
        "request_id": f"req-{i}",
        "api": "openai_chat",
        "direction": "request",
        "route": "/v1/chat/completions",
        "upstream": "llm.internal:443",
        "agent": agent,
        "session": session,
        "action": action,
        "findings": list(findings),
        "bytes": 120,
        "policy_digest": "ab" * 32,
        "ward_version": "0.1.0",
        "model": "gpt-4o",
    }
    e.update(extra)
    return e


def finding(detector, rule, origin, action="block", score=1.0):
    return {"detector": detector, "rule": rule, "origin": origin, "path": "/messages/1/content", "action": action, "score": score,
            "content_sha256": hashlib.sha256(rule.encode()).hexdigest()}


@pytest.fixture
def attack_trail(tmp_path):
    """A trail file of a small attack: injected tool result, forbidden tool call, a pasted credential; with é and a fractional score."""
    events = [
        event(0, "helpdesk", "s-1", tools=["fetch_ticket"]),
        event(1, "helpdesk", "s-1", "block", [finding("injection", "injection.override", "tool_result", score=0.75)], status=403),
        event(2, "helpdesk", "s-1", "block", [finding("tools", "tools.not_allowed", "tool_call")], direction="response", tools=["shell_exec"], status=502),
        event(3, "rédacteur", "s-2", "log", [finding("secrets", "secrets.aws_access_key_id", "user", action="log")]),
    ]
    path = tmp_path / "trail.jsonl"
    path.write_text("".join(line + "\n" for line in seal(events, "py-chain")), encoding="utf-8")
    return path

"""Streamed responses redacted in flight, through a real Envoy: a secret
and an e-mail address split over many SSE events (down to one character
per event) reach the client masked, no prefix of the secret longer than the
rule's keyword ever arrives, and the text a client rebuilds is the same for
every event size. A block mid-stream ends with the API's own error event."""

import json

import pytest

import harness as h

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
MESSAGES = "/v1/messages"

# Made up, in the documented shapes (`ghp_` + 36 alphanumerics).
GITHUB = "ghp_R7mK2xQ9vL4tW8nB3cF6hJ1pZ5sD0gY2aE7u"
KEYWORD = "ghp_"  # what distinguishes the token; nothing longer may leak
EMAIL = "maria.lindqvist@fjordbank.se"
REPLY = f"Your token is {GITHUB} and the contact is {EMAIL}, thanks."
REDACTED = "Your token is [GITHUB_TOKEN] and the contact is [EMAIL], thanks."

REQUESTS = {
    CHAT: {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "What is my token?"}]},
    RESPONSES: {"model": "gpt-4o-mini", "stream": True, "input": "What is my token?"},
    MESSAGES: {"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": True,
               "messages": [{"role": "user", "content": [{"type": "text", "text": "What is my token?"}]}]},
}


@pytest.fixture(scope="module")
def envoy(mock):
    e = h.Envoy("{}", mock.port)
    assert e.ready, e.logs()
    yield e
    e.stop()


@pytest.fixture(scope="module")
def blocking_envoy(mock):
    e = h.Envoy(json.dumps({"secrets": {"response": "block"}}), mock.port)
    assert e.ready, e.logs()
    yield e
    e.stop()


def stream(port, path, reply, chunk):
    status, headers, body = h.post(port, path, REQUESTS[path], {"x-mock-reply": reply, "x-mock-chunk": str(chunk)})
    assert status == 200, body
    assert headers.get("content-type", "").startswith("text/event-stream"), headers
    return body


def text_pieces(path, raw):
    """The text deltas a client reads, in order."""
    out = []
    for _, data in h.sse_events(raw):
        try:
            v = json.loads(data)
        except ValueError:
            continue
        if path == CHAT:
            piece = ((v.get("choices") or [{}])[0].get("delta") or {}).get("content")
        elif path == MESSAGES:
            piece = (v.get("delta") or {}).get("text") if v.get("type") == "content_block_delta" else None
        else:
            piece = v.get("delta") if v.get("type") == "response.output_text.delta" else None
        if piece is not None:
            out.append(piece)
    return out


def assert_no_secret_prefix(text):
    for k in range(len(KEYWORD) + 1, len(GITHUB) + 1):
        assert GITHUB[:k] not in text, f"secret prefix {GITHUB[:k]!r} reached the client"
    assert "lindqvist" not in text


@pytest.mark.parametrize("path", [CHAT, MESSAGES, RESPONSES])
def test_upstream_really_streams_the_secret_in_pieces(envoy, path):
    # Without Ward (baseline listener) the client would get it, split up.
    raw = stream(envoy.base_port, path, REPLY, 1)
    pieces = text_pieces(path, raw)
    assert "".join(pieces) == REPLY
    assert len([p for p in pieces if p]) == len(REPLY)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 16, 1000])
@pytest.mark.parametrize("path", [CHAT, MESSAGES, RESPONSES])
def test_split_secret_reaches_the_client_redacted(envoy, path, chunk):
    raw = stream(envoy.ward_port, path, REPLY, chunk)
    pieces = text_pieces(path, raw)
    assert "".join(pieces) == REDACTED
    # Not in the rebuilt text, not in any single event, not anywhere in the bytes.
    assert_no_secret_prefix("".join(pieces))
    assert_no_secret_prefix(raw.decode())
    # Every event the upstream sent is still there, in order.
    base = h.sse_events(stream(envoy.base_port, path, REPLY, chunk))
    got = h.sse_events(raw)
    assert [name for name, _ in got] == [name for name, _ in base]


@pytest.mark.parametrize("path", [CHAT, MESSAGES, RESPONSES])
def test_clean_stream_passes_byte_for_byte(envoy, path):
    reply = "Nothing secret here, only a calm answer about mountains and rivers."
    assert stream(envoy.ward_port, path, reply, 3) == stream(envoy.base_port, path, reply, 3)


def test_responses_done_events_carry_the_redacted_text(envoy):
    raw = stream(envoy.ward_port, RESPONSES, REPLY, 4)
    assert_no_secret_prefix(raw.decode())
    done = [json.loads(d) for n, d in h.sse_events(raw) if n in ("response.output_item.done", "response.completed")]
    assert done and all(REDACTED in json.dumps(d) for d in done)


@pytest.mark.parametrize("path", [CHAT, MESSAGES, RESPONSES])
def test_block_mid_stream_ends_with_the_apis_error_event(blocking_envoy, path):
    lead = "Here is what you asked for, in full. "
    raw = stream(blocking_envoy.ward_port, path, lead + REPLY, 2)
    events = h.sse_events(raw)
    assert_no_secret_prefix(raw.decode())
    # Text judged clean before the token was released (the word "token"
    # itself opens a key-name candidate, so the hold-back starts there);
    # the stream then ends with the API's error event.
    released = "".join(text_pieces(path, raw))
    assert released.startswith(lead) and (lead + REPLY).startswith(released), released
    name, data = events[-1]
    err = json.loads(data)
    if path == CHAT:
        assert name == "" and err["error"]["code"] == "ward_blocked"
    elif path == MESSAGES:
        assert name == "error" and err["type"] == "error"
    else:
        assert name == "error" and err["code"] == "ward_blocked"
    assert "[DONE]" not in raw.decode() and "message_stop" not in raw.decode()
    audit = [a for a in blocking_envoy.audit_events() if a.get("action") == "block" and a.get("direction") == "response"]
    assert audit, blocking_envoy.logs()[-2000:]

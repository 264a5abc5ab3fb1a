#!/usr/bin/env python3
"""A local stand-in for an LLM provider and an MCP server.

Speaks OpenAI Chat Completions, OpenAI Responses, Anthropic Messages and MCP
JSON-RPC over streamable HTTP, non-streamed and streamed (SSE), so Ward's
tests and demo need no network. Test control goes through request headers,
which a real client would never send:

  x-mock-reply: TEXT          what the model answers (default: a greeting)
  x-mock-tool-call: NAME      the model calls this tool ...
  x-mock-tool-args: JSON      ... with these arguments
  x-mock-chunk: N             characters per streamed delta (default 4)
  x-mock-tool-result: TEXT    what an MCP tools/call returns
  x-mock-tools: JSON          the tools an MCP tools/list returns
  x-mock-sse: 1               answer MCP requests as an SSE stream

GET /__seen returns every request received (method, path, headers, body as
latin-1 text) so a test can prove a request never reached the upstream;
POST /__reset clears it.

Usage: mock_upstream.py PORT  (prints "listening PORT" when ready)
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SEEN = []
SEEN_LOCK = threading.Lock()

DEFAULT_REPLY = "Hello! I am the mock model. How can I help?"
DEFAULT_TOOLS = [
    {"name": "search_docs", "description": "Search the product documentation.",
     "inputSchema": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}},
    {"name": "send_email", "description": "Send an e-mail.",
     "inputSchema": {"type": "object", "properties": {"to": {"type": "string"}, "body": {"type": "string"}}}},
]


def chunks(text, n):
    return [text[i:i + n] for i in range(0, len(text), n)] or [""]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle on, the body
    # waits for the proxy's delayed ACK (about 40 ms per answer).
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def read_body(self):
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n)

    def do_GET(self):
        if self.path == "/__seen":
            with SEEN_LOCK:
                return self.send_json(200, SEEN)
        if self.path == "/healthz":
            return self.send_json(200, {"ok": True})
        self.send_json(404, {"error": "not found"})

    def do_POST(self):
        try:
            body = self.read_body()
        except (ValueError, OSError):
            # The proxy gave up on this request mid-body (Ward blocked it
            # after the headers had gone upstream): it never arrived.
            self.close_connection = True
            return
        if self.path == "/__reset":
            with SEEN_LOCK:
                SEEN.clear()
            return self.send_json(200, {"ok": True})
        with SEEN_LOCK:
            SEEN.append({"method": "POST", "path": self.path,
                         "headers": {k.lower(): v for k, v in self.headers.items()},
                         "body": body.decode("latin-1")})
        try:
            req = json.loads(body) if body else {}
        except ValueError:
            return self.send_json(400, {"error": {"message": "mock: invalid JSON"}})
        path = self.path.split("?")[0]
        if path.endswith("/chat/completions"):
            return self.openai_chat(req)
        if path.endswith("/responses"):
            return self.openai_responses(req)
        if path.endswith("/messages"):
            return self.anthropic(req)
        if path.endswith("/mcp"):
            return self.mcp(req)
        self.send_json(404, {"error": {"message": "mock: unknown path " + path}})

    # -- helpers -----------------------------------------------------------

    def reply_text(self):
        return self.headers.get("x-mock-reply", DEFAULT_REPLY)

    def tool_call(self):
        name = self.headers.get("x-mock-tool-call")
        if not name:
            return None
        return name, self.headers.get("x-mock-tool-args", "{}")

    def chunk_size(self):
        return max(1, int(self.headers.get("x-mock-chunk", "4")))

    def send_json(self, status, obj, extra=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def start_sse(self, extra=None):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()

    def sse(self, data, event=None):
        raw = (f"event: {event}\n" if event else "") + f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"
        raw = raw.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
        self.wfile.flush()

    def end_sse(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # -- OpenAI Chat Completions ------------------------------------------

    def openai_chat(self, req):
        model = req.get("model", "mock-model")
        text, call = self.reply_text(), self.tool_call()
        if not req.get("stream"):
            msg = {"role": "assistant", "content": None if call else text}
            if call:
                msg["tool_calls"] = [{"id": "call_1", "type": "function", "function": {"name": call[0], "arguments": call[1]}}]
            return self.send_json(200, {"id": "chatcmpl-mock", "object": "chat.completion", "created": 0, "model": model,
                                        "choices": [{"index": 0, "message": msg, "finish_reason": "tool_calls" if call else "stop"}],
                                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
        self.start_sse()
        base = {"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0, "model": model}
        self.sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
        if call:
            self.sse({**base, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": call[0], "arguments": ""}}]}, "finish_reason": None}]})
            for part in chunks(call[1], self.chunk_size()):
                self.sse({**base, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": part}}]}, "finish_reason": None}]})
        else:
            for part in chunks(text, self.chunk_size()):
                self.sse({**base, "choices": [{"index": 0, "delta": {"content": part}, "finish_reason": None}]})
        self.sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls" if call else "stop"}]})
        self.sse("[DONE]")
        self.end_sse()

    # -- OpenAI Responses --------------------------------------------------

    def openai_responses(self, req):
        model = req.get("model", "mock-model")
        text, call = self.reply_text(), self.tool_call()
        if call:
            item = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": call[0], "arguments": call[1], "status": "completed"}
        else:
            item = {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": text, "annotations": []}]}
        final = {"id": "resp_mock", "object": "response", "created_at": 0, "model": model, "status": "completed", "output": [item]}
        if not req.get("stream"):
            return self.send_json(200, final)
        self.start_sse()
        self.sse({"type": "response.created", "response": {**final, "status": "in_progress", "output": []}}, "response.created")
        if call:
            self.sse({"type": "response.output_item.added", "output_index": 0, "item": {**item, "arguments": ""}}, "response.output_item.added")
            for part in chunks(call[1], self.chunk_size()):
                self.sse({"type": "response.function_call_arguments.delta", "output_index": 0, "item_id": "fc_1", "delta": part}, "response.function_call_arguments.delta")
        else:
            self.sse({"type": "response.output_item.added", "output_index": 0, "item": {**item, "content": []}}, "response.output_item.added")
            for part in chunks(text, self.chunk_size()):
                self.sse({"type": "response.output_text.delta", "output_index": 0, "item_id": "msg_1", "content_index": 0, "delta": part}, "response.output_text.delta")
        self.sse({"type": "response.completed", "response": final}, "response.completed")
        self.end_sse()

    # -- Anthropic Messages ------------------------------------------------

    def anthropic(self, req):
        model = req.get("model", "mock-model")
        text, call = self.reply_text(), self.tool_call()
        if call:
            block = {"type": "tool_use", "id": "toolu_1", "name": call[0], "input": json.loads(call[1])}
        else:
            block = {"type": "text", "text": text}
        if not req.get("stream"):
            return self.send_json(200, {"id": "msg_mock", "type": "message", "role": "assistant", "model": model,
                                        "content": [block], "stop_reason": "tool_use" if call else "end_turn",
                                        "usage": {"input_tokens": 1, "output_tokens": 1}})
        self.start_sse()
        self.sse({"type": "message_start", "message": {"id": "msg_mock", "type": "message", "role": "assistant", "model": model, "content": [], "usage": {"input_tokens": 1, "output_tokens": 0}}}, "message_start")
        if call:
            self.sse({"type": "content_block_start", "index": 0, "content_block": {**block, "input": {}}}, "content_block_start")
            for part in chunks(call[1], self.chunk_size()):
                self.sse({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": part}}, "content_block_delta")
        else:
            self.sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}, "content_block_start")
            for part in chunks(text, self.chunk_size()):
                self.sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": part}}, "content_block_delta")
        self.sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        self.sse({"type": "message_delta", "delta": {"stop_reason": "tool_use" if call else "end_turn"}, "usage": {"output_tokens": 1}}, "message_delta")
        self.sse({"type": "message_stop"}, "message_stop")
        self.end_sse()

    # -- MCP (JSON-RPC over streamable HTTP) -------------------------------

    def mcp(self, req):
        if isinstance(req, list):
            answers = [a for a in (self.mcp_one(m) for m in req) if a is not None]
            return self.send_json(200, answers)
        answer = self.mcp_one(req)
        if answer is None:
            self.send_response(202)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        extra = {"mcp-session-id": self.headers.get("mcp-session-id", "mock-session-1")}
        if self.headers.get("x-mock-sse") == "1":
            self.start_sse(extra)
            self.sse(answer, "message")
            return self.end_sse()
        self.send_json(200, answer, extra)

    def mcp_one(self, m):
        method, mid = m.get("method"), m.get("id")
        if mid is None:
            return None  # a notification
        if method == "initialize":
            result = {"protocolVersion": "2025-06-18", "capabilities": {"tools": {"listChanged": False}},
                      "serverInfo": {"name": "mock-mcp", "version": "1.0.0"}}
        elif method == "tools/list":
            result = {"tools": json.loads(self.headers.get("x-mock-tools") or json.dumps(DEFAULT_TOOLS))}
        elif method == "tools/call":
            text = self.headers.get("x-mock-tool-result", "ok: " + json.dumps(m.get("params", {}).get("arguments", {})))
            result = {"content": [{"type": "text", "text": text}], "isError": False}
        else:
            return {"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "method not found"}}
        return {"jsonrpc": "2.0", "id": mid, "result": result}


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Records the exchanges of benches/envoy_load.py as ward-host replay lines.

Each request body of envoy_load.py (chat_4k, rag_64k, stream_4k) is sent to
a freshly started host-tests/mock_upstream.py with the headers the load run
sends, and the mock's answer (headers, body, streamed pieces) is written
with it as one JSON Lines exchange (docs/hosts.md), so `ward-host bench
--exchanges FILE` and `filter_path` time exactly what Envoy sees:

    python benches/envoy_exchanges.py > /tmp/envoy_exchanges.jsonl
    $CARGO_TARGET_DIR/host/ward-host bench --exchanges /tmp/envoy_exchanges.jsonl

The `x-request-id` is a fixed UUID of the shape Envoy generates; `:authority`
is the address wrk sends to.
"""

import http.client
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import envoy_load  # noqa: E402

MOCK = os.path.join(HERE, "..", "host-tests", "mock_upstream.py")
REQUEST_ID = "0b9b4c3e-7d4f-4a8e-9a51-3f0f2d6c1e27"
AUTHORITY = "127.0.0.1:10000"


def record(port, name, body, extra):
    headers = {"content-type": "application/json", "x-request-id": REQUEST_ID, **extra}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", envoy_load.CHAT, body=body, headers=headers)
    r = conn.getresponse()
    answer = r.read()
    conn.close()
    rheaders = [(k.lower(), v) for k, v in r.getheaders()
                if k.lower() not in ("server", "date", "transfer-encoding", "content-length")]
    response = {"status": r.status, "headers": rheaders}
    if dict(rheaders).get("content-type", "").startswith("text/event-stream"):
        # One piece per event, as the mock writes them (one chunk each).
        text = answer.decode()
        response["chunks"] = [e + "\n\n" for e in text.split("\n\n") if e]
    else:
        response["body"] = answer.decode()
    req_headers = [[":authority", AUTHORITY]] + [[k, v] for k, v in headers.items()]
    return {"name": name, "request": {"path": envoy_load.CHAT, "headers": req_headers, "body": body.decode()},
            "response": response}


def main():
    mock = subprocess.Popen([sys.executable, MOCK, "0"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(mock.stdout.readline().split()[1])
        for name, (body, extra) in envoy_load.kinds().items():
            print(json.dumps(record(port, name, body, extra)))
    finally:
        mock.terminate()
        mock.wait()


if __name__ == "__main__":
    main()

"""OpenAIServerDouble: a scripted OpenAI-compatible HTTP server on loopback — a test
double standing in for servers we cannot run here (vLLM needs a GPU, Ollama its
binary) and for faults a real server will not produce on demand. It speaks real HTTP
(so the client's whole stack runs) and records every request.

GET routes answer fixed JSON; each POST /v1/chat/completions takes the next scripted
Reply (status, headers, body; or SSE events; or a dropped connection; or a delay).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON (dict/list) or str, for a non-streamed reply
    events: list[str] | None = None  # SSE `data:` payloads: a streamed reply
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # before answering (a hanging server)
    drop_after: int | None = None  # close the connection after this many events


def chunk(content: str | None = None, finish: str | None = None, **extra: Any) -> str:
    """One chat.completion.chunk as OpenAI, vLLM and Ollama stream it."""
    delta = {"content": content} if content is not None else {}
    return json.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
    )


def streamed(answer: str, usage: dict[str, int] | None = None) -> Reply:
    """An answer streamed in pieces, then (include_usage) a usage chunk and [DONE]."""
    events = [chunk(answer[i : i + 7]) for i in range(0, len(answer), 7)]
    events.append(chunk(finish="stop"))
    if usage is not None:
        events.append(
            json.dumps({"object": "chat.completion.chunk", "choices": [], "usage": usage})
        )
    events.append("[DONE]")
    return Reply(events=events)


def whole(answer: str, usage: dict[str, int] | None = None) -> Reply:
    """A non-streamed chat.completion (a server that ignores `stream`)."""
    return Reply(
        body={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage or {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    )


class OpenAIServerDouble:
    def __init__(self, routes: dict[str, Any], replies: list[Reply] | None = None) -> None:
        self.routes = routes  # "GET /path" or "POST /path" -> JSON
        self.replies = list(replies or [])
        self.requests: list[dict[str, Any]] = []  # chat completion bodies, in order
        self.headers: list[dict[str, str]] = []
        self.url = ""

    @contextmanager
    def running(self, tls: ssl.SSLContext | None = None) -> Iterator[OpenAIServerDouble]:
        """Serve on a free loopback port (https with `tls`) until the block ends."""
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: object) -> None:
                pass

            def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                key = f"GET {self.path}"
                if key in double.routes:
                    self._json(200, double.routes[key])
                else:
                    self._json(404, {"detail": "Not Found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length) or b"null")
                if self.path != "/v1/chat/completions":
                    key = f"POST {self.path}"
                    self._json(*((200, double.routes[key]) if key in double.routes else (404, {})))
                    return
                double.requests.append(payload)
                double.headers.append(dict(self.headers))
                reply = double.replies.pop(0)
                time.sleep(reply.delay_s)
                if reply.events is None:
                    self._json(reply.status, reply.body, reply.headers)
                    return
                self.send_response(reply.status)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i, event in enumerate(reply.events):
                    if reply.drop_after is not None and i >= reply.drop_after:
                        self.close_connection = True  # mid-body: a truncated response
                        return
                    data = f"data: {event}\n\n".encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

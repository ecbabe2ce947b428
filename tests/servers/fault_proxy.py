"""A fault-injecting HTTP proxy on loopback, in front of a real inference server.

Test infrastructure, named as such: requests pass through to the real server
(`upstream`) except the chat completions the test scripted a fault for, in order:

    proxy = FaultProxy("http://127.0.0.1:8123")
    proxy.script("status:503:2", "reset", "delay:0.5")   # the next three captions
    proxy.url                                            # give this to the client
    proxy.kill()                                         # the server is gone

Faults (each applies to one POST /v1/chat/completions):
  delay:S          wait S seconds, then pass through
  hang             never answer (until the proxy is closed or killed)
  status:N[:R]     answer HTTP N with a JSON error body (429/503 with Retry-After: R)
  reset            close the connection with a TCP reset, nothing sent
  truncate         pass through, but cut the body off halfway (Content-Length kept)
  invalid_json     HTTP 200 whose body is not JSON
  off_schema       pass through, then replace the answer with JSON that breaks the
                   caption schema ({"caption": 5})
`kill()` closes the listening socket and every open connection: connection refused.
Standard library only, threads, so it runs beside pytest-qt's event loop.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import socket
import struct
import threading
import time
import urllib.parse
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT = "/v1/chat/completions"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream_host = parsed.hostname or "127.0.0.1"
        self.upstream_port = parsed.port or 80
        self._faults: deque[str] = deque()
        self._lock = threading.Lock()
        self.chat_requests = 0  # chat completions seen (faulted or not)
        self.faults_applied: list[str] = []
        self._closing = threading.Event()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._sockets: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, *faults: str) -> None:
        """Faults for the next chat completions, in order (then pass through)."""
        with self._lock:
            self._faults.extend(faults)

    def always(self, fault: str, count: int = 1000) -> None:
        self.script(*([fault] * count))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def _next_fault(self) -> str | None:
        with self._lock:
            self.chat_requests += 1
            if not self._faults:
                return None
            fault = self._faults.popleft()
            self.faults_applied.append(fault)
            return fault

    def kill(self) -> None:
        """The server is gone: nothing listens, open connections are reset."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:  # wakes handlers waiting on a kept-alive connection
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    close = kill

    # -- the handler ------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:  # quiet test output
                return None

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._sockets.add(self.connection)

            def finish(self) -> None:
                with contextlib.suppress(OSError):
                    super().finish()
                with proxy._lock:
                    proxy._sockets.discard(self.connection)

            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                fault = proxy._next_fault() if self.path.startswith(CHAT) else None
                self._forward(body, fault)

            def _forward(self, body: bytes | None, fault: str | None = None) -> None:
                kind, _, arg = (fault or "").partition(":")
                if kind == "delay":
                    proxy._closing.wait(float(arg))
                elif kind == "hang":
                    proxy._closing.wait()
                    self._abort()
                    return
                elif kind == "reset":
                    self._abort()
                    return
                elif kind == "status":
                    code, _, retry = arg.partition(":")
                    self._reply(int(code), b'{"error":{"message":"injected fault"}}', retry)
                    return
                elif kind == "invalid_json":
                    self._reply(200, b'{"choices": [ this is not json')
                    return
                status, headers, data = self._upstream(body)
                if kind == "truncate":
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self._abort(reset=False)  # a FIN: the half body still arrives
                    return
                if kind == "off_schema" and status == 200:
                    answer = json.loads(data)
                    answer["choices"][0]["message"]["content"] = '{"caption": 5}'
                    data = json.dumps(answer).encode()
                self._reply(status, data, headers=headers)

            def _abort(self, reset: bool = True) -> None:
                """Drop the connection, with a TCP reset or a plain close. The socket's
                file objects go first, or close() would leave the descriptor open."""
                self.close_connection = True
                for stream in (self.rfile, self.wfile):
                    with contextlib.suppress(OSError, ValueError):
                        stream.close()
                self.wfile = io.BytesIO()  # the handler's own flush after this method
                if reset:
                    _reset(self.connection)
                else:
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.connection.close()

            def _upstream(self, body: bytes | None) -> tuple[int, list[tuple[str, str]], bytes]:
                conn = http.client.HTTPConnection(
                    proxy.upstream_host, proxy.upstream_port, timeout=600
                )
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    conn.request(self.command, self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                    kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
                    return response.status, kept, data
                finally:
                    conn.close()

            def _reply(
                self,
                status: int,
                data: bytes,
                retry_after: str = "",
                headers: list[tuple[str, str]] | None = None,
            ) -> None:
                self.send_response(status)
                for key, value in headers or [("Content-Type", "application/json")]:
                    self.send_header(key, value)
                if retry_after:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


class _QuietServer(ThreadingHTTPServer):
    """Connections the proxy or the client cut (the faults themselves) end handlers
    with errors: not worth a traceback on stderr."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0) rather than FIN: a connection reset by peer."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


def wait_until(condition: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False

"""The fault proxy itself (test infrastructure): each fault does what its name says,
against a canned upstream (a named double standing in for a server's answer)."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.servers.fault_proxy import FaultProxy

ANSWER = {
    "choices": [{"message": {"content": '{"caption": "a cat", "tags": [], "language": "en"}'}}]
}


class CannedUpstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: Any) -> None:
        return None

    def do_GET(self) -> None:
        self._send(b'{"status":"ok"}')

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(json.dumps(ANSWER).encode())

    def _send(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), CannedUpstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    host, port = upstream.server_address[:2]
    faulty = FaultProxy(f"http://{host}:{port}")
    yield faulty
    faulty.close()
    upstream.shutdown()
    upstream.server_close()


def post(proxy: FaultProxy, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    host, port = proxy.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("POST", "/v1/chat/completions", body=b"{}")
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_passes_through_then_applies_scripted_faults_in_order(proxy: FaultProxy) -> None:
    proxy.script("status:429:3", "invalid_json", "off_schema")
    status, headers, _ = post(proxy)
    assert status == 429 and headers["Retry-After"] == "3"
    status, _, body = post(proxy)
    assert status == 200 and body.startswith(b'{"choices": [ this')
    status, _, body = post(proxy)
    assert json.loads(json.loads(body)["choices"][0]["message"]["content"]) == {"caption": 5}
    status, _, body = post(proxy)
    assert status == 200 and json.loads(body) == ANSWER
    assert proxy.chat_requests == 4


def test_reset_truncate_delay_and_kill(proxy: FaultProxy) -> None:
    proxy.script("reset", "truncate", "delay:0.4")
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        post(proxy)
    with pytest.raises(http.client.IncompleteRead):
        post(proxy)
    started = time.monotonic()
    assert post(proxy)[0] == 200 and time.monotonic() - started >= 0.4
    proxy.kill()
    with pytest.raises(ConnectionRefusedError):
        post(proxy)


def test_hang_answers_nothing_until_killed(proxy: FaultProxy) -> None:
    proxy.script("hang")
    with pytest.raises(TimeoutError):
        post(proxy, timeout=0.5)

"""A stand-in for the Hugging Face Hub on 127.0.0.1, just big enough for models.download.

Real HTTP (http.server in a thread), so huggingface_hub 2.4.0 and httpx2 run unmodified.
It serves what the hub serves for a public model repo:

- `GET /api/models/{repo}/revision/{rev}?blobs=True` (HfApi.model_info(files_metadata=True)):
  JSON with the commit `sha` and `siblings` (rfilename, size, blobId, lfs{size, sha256}).
- `HEAD|GET /{repo}/resolve/{rev}/{file}`: 302 to the "CDN" with X-Repo-Commit,
  X-Linked-Etag (the LFS sha256), X-Linked-Size and ETag, as the hub does for LFS files.
  The CDN is addressed as `localhost` while the endpoint is `127.0.0.1`, so, as with the
  real hub, it is another host (huggingface_hub's HEAD stops at the redirect).
- `GET /cdn/{sha256}`: the bytes, with Range support (206 + Content-Range).
- 404s carry X-Error-Code RepoNotFound / EntryNotFound, which huggingface_hub maps to its
  error types.

Knobs make it misbehave: drop the connection mid-file, answer 503, lie about a checksum,
send slowly. It counts bytes served and records every Range header.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"
SEND_CHUNK = 16 * 1024


@dataclass
class Misbehaviour:
    drop_after: dict[str, int] = field(default_factory=dict)  # file -> bytes, first GET only
    # file -> what to answer its next /resolve requests with: an HTTP status, or None to serve
    fail_with: dict[str, list[int | None]] = field(default_factory=dict)
    wrong_sha256: set[str] = field(default_factory=set)  # listed with a wrong checksum
    listed_short: set[str] = field(default_factory=set)  # listed 1000 bytes shorter than served
    no_lfs_info: bool = False  # listing without lfs metadata (client must HEAD for the ETag)
    ignore_range: bool = False
    chunk_delay: float = 0.0  # seconds between SEND_CHUNK-sized writes


class StandInHub:
    def __init__(self) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}
        self.bad = Misbehaviour()
        self.bytes_served: dict[str, int] = defaultdict(int)
        self.ranges: list[tuple[str, str | None]] = []  # (file, Range header) per CDN GET
        self.requests: list[str] = []  # "METHOD path" of every request
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"hub": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def add_repo(self, repo: str, files: dict[str, bytes]) -> None:
        self.repos[repo] = files

    def start(self) -> StandInHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def file_by_sha(self, sha: str) -> tuple[str, bytes] | None:
        for files in self.repos.values():
            for name, data in files.items():
                if hashlib.sha256(data).hexdigest() == sha:
                    return name, data
        return None


class _Handler(BaseHTTPRequestHandler):
    hub: StandInHub
    protocol_version = "HTTP/1.1"  # keep-alive, like the real thing
    timeout = 10

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self._route(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._route(head=False)

    def _route(self, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        with self.hub.lock:
            self.hub.requests.append(f"{self.command} {path}")
        if match := re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/[^/]+)?", path):
            return self._listing(match.group(1))
        if match := re.fullmatch(r"/([^/]+/[^/]+)/resolve/[^/]+/(.+)", path):
            return self._resolve(match.group(1), match.group(2))
        if match := re.fullmatch(r"/cdn/([0-9a-f]{64})", path):
            return self._cdn(match.group(1), head)
        self._error(404, "NotFound")

    def _listing(self, repo: str) -> None:
        files = self.hub.repos.get(repo)
        if files is None:
            return self._error(404, "RepoNotFound")
        siblings = []
        for name, data in files.items():
            sha = hashlib.sha256(data).hexdigest()
            if name in self.hub.bad.wrong_sha256:
                sha = hashlib.sha256(b"something else").hexdigest()
            size = len(data) - (1000 if name in self.hub.bad.listed_short else 0)
            sibling: dict[str, object] = {"rfilename": name, "size": size, "blobId": "b" * 40}
            if not self.hub.bad.no_lfs_info:
                sibling["lfs"] = {"size": size, "sha256": sha, "pointerSize": 134}
            siblings.append(sibling)
        body = json.dumps({"id": repo, "sha": COMMIT, "siblings": siblings}).encode()
        self._send(200, body, {"Content-Type": "application/json"})

    def _resolve(self, repo: str, name: str) -> None:
        files = self.hub.repos.get(repo)
        if files is None:
            return self._error(404, "RepoNotFound")
        if name not in files:
            return self._error(404, "EntryNotFound", {"X-Repo-Commit": COMMIT})
        status = (self.hub.bad.fail_with.get(name) or [None]).pop(0)
        if status is not None:
            return self._error(status, "EntryNotFound" if status == 404 else "")
        sha = hashlib.sha256(files[name]).hexdigest()
        headers = {
            "Location": f"http://localhost:{self.hub.port}/cdn/{sha}",
            "X-Repo-Commit": COMMIT,
            "X-Linked-Etag": f'"{sha}"',
            "X-Linked-Size": str(len(files[name])),
            "ETag": '"' + "b" * 40 + '"',  # the git blob id; the sha256 is X-Linked-Etag
        }
        self._send(302, b"", headers)

    def _cdn(self, sha: str, head: bool) -> None:
        found = self.hub.file_by_sha(sha)
        if found is None:
            return self._error(404, "")
        name, data = found
        first = 0
        range_header = self.headers.get("Range")
        if not head:
            with self.hub.lock:
                self.hub.ranges.append((name, range_header))
        if range_header and not self.hub.bad.ignore_range:
            first = int(re.fullmatch(r"bytes=(\d+)-", range_header).group(1))
        body = data[first:]
        headers = {"Accept-Ranges": "bytes", "ETag": f'"{sha}"', "Content-Length": str(len(body))}
        if first:
            headers["Content-Range"] = f"bytes {first}-{len(data) - 1}/{len(data)}"
        self.send_response(206 if first else 200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            try:
                self._stream(name, body)
            except (BrokenPipeError, ConnectionResetError):  # the client hung up (a cancel)
                self.close_connection = True

    def _stream(self, name: str, body: bytes) -> None:
        drop_at = self.hub.bad.drop_after.pop(name, None)
        sent = 0
        while sent < len(body):
            piece = body[sent : sent + SEND_CHUNK]
            if drop_at is not None and sent + len(piece) >= drop_at:
                piece = body[sent:drop_at]
            self.wfile.write(piece)
            sent += len(piece)
            with self.hub.lock:
                self.hub.bytes_served[name] += len(piece)
            if drop_at is not None and sent >= drop_at:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)  # mid-body: the client sees a drop
                self.close_connection = True
                return
            if self.hub.bad.chunk_delay:
                time.sleep(self.hub.bad.chunk_delay)

    def _error(self, status: int, code: str, extra: dict[str, str] | None = None) -> None:
        body = json.dumps({"error": f"stand-in hub: {code or status}"}).encode()
        headers = {"Content-Type": "application/json", **(extra or {})}
        if code:
            headers["X-Error-Code"] = code
        self._send(status, body, headers)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

"""A small local stand-in for the Hugging Face Hub, spoken to by the real `huggingface_hub` client.

Two threaded HTTP servers on 127.0.0.1, like the real Hub and its CDN on different origins:
- the *hub*: `GET /api/models` (search), `GET /api/models/{repo}[/revision/{rev}]` (info with siblings and LFS
  sha256/size when `blobs=True`), `HEAD|GET /{repo}/resolve/{rev}/{path}` answering LFS files with a 302 to the
  CDN carrying `X-Repo-Commit`, `X-Linked-Etag`, `X-Linked-Size` (what `get_hf_file_metadata` reads), and the
  Hub's error headers (`X-Error-Code: GatedRepo | RepoNotFound | RevisionNotFound | EntryNotFound`);
- the *cdn*: `GET|HEAD /cdn/{repo}/{sha256}` with `Range: bytes=a-[b]` → 206 + `Content-Range`.

Gated repos answer resolve with 401 without a bearer token and 403 with the wrong one; private repos look
missing (401 RepoNotFound) without their token. Every request is recorded (`requests`) so a test can assert a
`Range: bytes=N-` request was seen. `pause_at(offset)` makes the CDN stop after sending the byte before
`offset` until the test releases it — so a subprocess can be killed mid-file deterministically, without sleeps.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

SEND_CHUNK = 64 * 1024


@dataclass
class FakeFile:
    path: str
    data: bytes
    lfs: bool = True
    published_sha256: str | None = None  # what the Hub claims; defaults to the real digest
    corrupt: bool = False  # serve bytes that differ from what the sha256 says

    @property
    def sha256(self) -> str:
        return self.published_sha256 or self.digest

    @property
    def digest(self) -> str:
        """The real sha256 of the data: the CDN's address, whatever the Hub claims."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def git_oid(self) -> str:
        return hashlib.sha1(b"blob %d\0" % len(self.data) + self.data).hexdigest()

    def served_bytes(self) -> bytes:
        if not self.corrupt:
            return self.data
        middle = len(self.data) // 2
        return self.data[:middle] + bytes([self.data[middle] ^ 0xFF]) + self.data[middle + 1:]


@dataclass
class FakeRepo:
    repo_id: str
    files: dict[str, FakeFile]
    gated: bool = False
    private: bool = False
    token: str | None = None  # the bearer token that may read a gated/private repo
    downloads: int = 0
    likes: int = 0
    last_modified: datetime = field(default_factory=lambda: datetime(2025, 1, 1, tzinfo=UTC))
    tags: tuple[str, ...] = ("gguf",)

    @property
    def commit(self) -> str:
        return hashlib.sha1(self.repo_id.encode()).hexdigest()

    def summary(self) -> dict:
        return {
            "_id": self.commit[:24], "id": self.repo_id, "modelId": self.repo_id,
            "author": self.repo_id.split("/")[0], "sha": self.commit,
            "lastModified": self.last_modified.isoformat().replace("+00:00", "Z"),
            "private": self.private, "gated": "manual" if self.gated else False,
            "downloads": self.downloads, "likes": self.likes, "tags": list(self.tags), "library_name": "gguf",
        }


@dataclass(frozen=True)
class Recorded:
    server: str
    method: str
    path: str
    headers: dict[str, str]


class Gate:
    """Stops the CDN at an absolute file offset until released (or, with `drop`, closes the connection there)."""

    def __init__(self, offset: int, drop: bool = False):
        self.offset = offset
        self.drop = drop
        self.reached = threading.Event()
        self._release = threading.Event()

    def release(self) -> None:
        self._release.set()

    def wait_released(self) -> None:
        self._release.wait(120)


class FakeHub:
    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        self.tls = tls  # (certfile, keyfile): serve HTTPS, to test custom CA bundles
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self.gates: list[Gate] = []
        self.ignore_range = False  # answer Range requests with the whole file (200), like some proxies
        self._servers: list[ThreadingHTTPServer] = []
        self.hub_url = self.cdn_url = ""

    # ---- setup ---------------------------------------------------------------------------------------------
    def start(self) -> FakeHub:
        hub = _server(self, "hub")
        cdn = _server(self, "cdn")
        self._servers = [hub, cdn]
        scheme = "http"
        if self.tls:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            for server in self._servers:
                server.socket = context.wrap_socket(server.socket, server_side=True)
            scheme = "https"
        self.hub_url = f"{scheme}://127.0.0.1:{hub.server_address[1]}"
        self.cdn_url = f"{scheme}://127.0.0.1:{cdn.server_address[1]}"
        for server in self._servers:
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def close(self) -> None:
        for gate in self.gates:
            gate.release()
        for server in self._servers:
            server.shutdown()
            server.server_close()

    @property
    def endpoint(self) -> str:
        return self.hub_url

    def add_repo(self, repo_id: str, files: dict[str, bytes], **options) -> FakeRepo:
        repo = FakeRepo(repo_id, {p: FakeFile(p, d, lfs=p.endswith(".gguf")) for p, d in files.items()}, **options)
        self.repos[repo_id] = repo
        return repo

    def pause_at(self, offset: int) -> Gate:
        gate = Gate(offset)
        self.gates.append(gate)
        return gate

    def drop_at(self, offset: int) -> Gate:
        """The next response that crosses `offset` ends there: the connection closes mid-body, once."""
        gate = Gate(offset, drop=True)
        self.gates.append(gate)
        return gate

    # ---- inspection ----------------------------------------------------------------------------------------
    def record(self, entry: Recorded) -> None:
        with self._lock:
            self.requests.append(entry)

    def ranges_seen(self, server: str = "cdn") -> list[str]:
        """The Range headers of requests that reached `server` (a resolve redirect carries it on to the CDN)."""
        with self._lock:
            return [r.headers["range"] for r in self.requests if "range" in r.headers and r.server == server]

    def cdn_gets(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.server == "cdn" and r.method == "GET"]

    def file_by_sha(self, repo_id: str, sha: str) -> FakeFile | None:
        repo = self.repos.get(repo_id)
        return next((f for f in repo.files.values() if f.digest == sha), None) if repo else None

    def take_gate(self, start: int, end: int) -> Gate | None:
        with self._lock:
            for gate in self.gates:
                if not gate.reached.is_set() and start < gate.offset <= end:
                    return gate
        return None


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):  # clients killed or cancelled mid-body are expected
            super().handle_error(request, client_address)


def _server(hub: FakeHub, role: str) -> ThreadingHTTPServer:
    handler = type(f"{role.title()}Handler", (_Handler,), {"hub": hub, "role": role})
    server = _QuietServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    return server


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    role: str
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def do_GET(self) -> None:
        self._dispatch(head=False)

    # ---- routing -------------------------------------------------------------------------------------------
    def _dispatch(self, head: bool) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        self.hub.record(Recorded(self.role, self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        try:
            if self.role == "cdn":
                return self._cdn(path, head)
            if path == "/api/models":
                return self._search(parse_qs(url.query))
            m = re.match(r"^/api/models/([^/]+/[^/]+?)(?:/revision/(.+))?$", path)
            if m:
                return self._info(m.group(1), m.group(2) or "main", parse_qs(url.query))
            m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
            if m:
                return self._resolve(m.group(1), m.group(2), m.group(3), head)
            self._error(404, "NotFound", "no such route")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _search(self, query: dict) -> None:
        text = (query.get("search") or [""])[0].lower()
        tags = query.get("filter") or []
        found = [r for r in self.hub.repos.values()
                 if text in r.repo_id.lower() and all(t in r.tags for t in tags) and not r.private]
        sort = (query.get("sort") or ["downloads"])[0]
        key = {"downloads": lambda r: r.downloads, "likes": lambda r: r.likes,
               "lastModified": lambda r: r.last_modified}.get(sort, lambda r: r.downloads)
        found.sort(key=key, reverse=True)
        limit = int((query.get("limit") or [1000])[0])
        self._json([r.summary() for r in found[:limit]])

    def _repo_or_error(self, repo_id: str, revision: str, *, for_file: bool) -> FakeRepo | None:
        repo = self.hub.repos.get(repo_id)
        token = self._bearer()
        if repo is None or (repo.private and token != repo.token):
            self._error(401 if token is None else 404, "RepoNotFound", "Repository not found")
            return None
        if revision not in ("main", repo.commit):
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return None
        if for_file and repo.gated and token != repo.token:
            if token is None:
                self._error(401, "GatedRepo", f"Access to model {repo_id} is restricted. You must have access "
                                              "to it and be authenticated to access it. Please log in.")
            else:
                self._error(403, "GatedRepo", f"Access to model {repo_id} is restricted and you are not in "
                                              "the authorized list. Visit the repo page to ask for access.")
            return None
        return repo

    def _info(self, repo_id: str, revision: str, query: dict) -> None:
        repo = self._repo_or_error(repo_id, revision, for_file=False)
        if repo is None:
            return
        blobs = (query.get("blobs") or ["false"])[0].lower() == "true"
        siblings = []
        for f in repo.files.values():
            sib = {"rfilename": f.path}
            if blobs:
                sib.update(size=len(f.data), blobId=f.git_oid)
                if f.lfs:
                    sib["lfs"] = {"sha256": f.sha256, "size": len(f.data), "pointerSize": 134}
            siblings.append(sib)
        self._json({**repo.summary(), "siblings": siblings})

    def _resolve(self, repo_id: str, revision: str, path: str, head: bool) -> None:
        repo = self._repo_or_error(repo_id, revision, for_file=True)
        if repo is None:
            return
        f = repo.files.get(path)
        if f is None:
            return self._error(404, "EntryNotFound", f"{path} does not exist on {revision}")
        common = {"X-Repo-Commit": repo.commit, "Accept-Ranges": "bytes"}
        if f.lfs:
            self.send_response(302)
            headers = {**common, "Location": f"{self.hub.cdn_url}/cdn/{repo_id}/{f.digest}",
                       "X-Linked-Size": str(len(f.data)), "X-Linked-Etag": f'"{f.sha256}"',
                       "ETag": f'"{f.git_oid}"', "Content-Length": "0"}
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            return
        self._send_bytes(f.data, head, {**common, "ETag": f'"{f.git_oid}"'})

    def _cdn(self, path: str, head: bool) -> None:
        m = re.match(r"^/cdn/([^/]+/[^/]+)/([0-9a-f]{64})$", path)
        f = self.hub.file_by_sha(m.group(1), m.group(2)) if m else None
        if f is None:
            return self._error(404, "EntryNotFound", "no such blob")
        self._send_bytes(f.served_bytes(), head, {"ETag": f'"{f.sha256}"', "Accept-Ranges": "bytes"})

    # ---- responses -----------------------------------------------------------------------------------------
    def _send_bytes(self, data: bytes, head: bool, headers: dict[str, str]) -> None:
        start, end = 0, len(data) - 1
        status = 200
        wanted = re.match(r"^bytes=(\d+)-(\d*)$", self.headers.get("Range", ""))
        if wanted and not self.hub.ignore_range:
            start = int(wanted.group(1))
            end = min(int(wanted.group(2)), len(data) - 1) if wanted.group(2) else len(data) - 1
            if start >= len(data):
                return self._error(416, "RangeNotSatisfiable", "range not satisfiable")
            status = 206
            headers = {**headers, "Content-Range": f"bytes {start}-{end}/{len(data)}"}
        self.send_response(status)
        for k, v in {**headers, "Content-Length": str(end - start + 1),
                     "Content-Type": "application/octet-stream"}.items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self._stream(data, start, end + 1)

    def _stream(self, data: bytes, start: int, stop: int) -> None:
        gate = self.hub.take_gate(start, stop)
        pos = start
        while pos < stop:
            limit = stop if gate is None or gate.reached.is_set() else gate.offset
            step = min(SEND_CHUNK, limit - pos)
            self.wfile.write(data[pos:pos + step])
            pos += step
            if gate is not None and pos == gate.offset and not gate.reached.is_set():
                self.wfile.flush()
                gate.reached.set()
                if gate.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                gate.wait_released()
        self.wfile.flush()

    def _json(self, payload) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _bearer(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else None


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A started FakeHub with HF_ENDPOINT pointing at it (import this fixture into a test module)."""
    hub = FakeHub().start()
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    try:
        yield hub
    finally:
        hub.close()

"""A stand-in for the Hugging Face hub, serving model repos from a directory on loopback.

The public hub (huggingface.co) is unreachable from the machines these tests run
on, so the download code is tested against this server with the REAL
huggingface_hub client (point ``HF_ENDPOINT`` at ``HubServer.url``). It speaks
the subset of the hub protocol that huggingface_hub 2.4 uses for
``HfApi.model_info(files_metadata=True)``, ``snapshot_download`` and
``hf_hub_download`` (read from the installed client, not guessed):

* ``GET /api/models/{repo}`` and ``/api/models/{repo}/revision/{rev}``: JSON with
  ``id``, ``sha`` (commit), ``gated``, ``siblings`` (``rfilename``; with
  ``?blobs=true`` also ``size``, ``blobId`` and, for LFS files,
  ``lfs: {sha256, size, pointerSize}``).
* ``GET /api/models/{repo}/tree/{rev}[/{path}]?recursive=true``: the listing
  snapshot_download uses (``type``, ``path``, ``size``, ``oid``, ``lfs: {oid,
  size, pointerSize}``). Never a ``xetHash``.
* ``HEAD``/``GET /{repo}/resolve/{rev}/{path}``: small (git) files are served
  directly with ``ETag`` (the git blob sha1), ``X-Repo-Commit``,
  ``Content-Length`` and ``Accept-Ranges``. LFS files answer like the hub does:
  ``302`` to a CDN with ``X-Linked-Etag`` (the sha256), ``X-Linked-Size`` and
  ``X-Repo-Commit``. The "CDN" is a second listener on another port, so it is a
  different origin: the client stops at the 302 and does not forward the
  ``Authorization`` header there, as with the real CDN.
* ``Range: bytes=a-[b]`` on both servers: ``206`` with ``Content-Range``, ``416``
  past the end.
* Errors with the hub's ``X-Error-Code``/``X-Error-Message`` headers:
  ``RepoNotFound`` (404), ``RevisionNotFound`` (404), ``EntryNotFound`` (404),
  ``GatedRepo`` (401 without a token, 403 with a token not granted access).

No ``X-Xet-*`` header or ``xet-auth`` link is ever sent, so the client never
takes the Xet path (hf_xet is installed in the venv).

Fault injection: ``cut_connection`` (close the socket after N body bytes for the
first K GETs of a file), ``corrupt`` (serve flipped bytes for the first K GETs,
or always), ``gate`` (a gated repo with the tokens allowed in), ``throttle_bytes_per_s``. Every request is
logged in ``requests`` with its Range and Authorization headers.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

DEFAULT_LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pth", ".pt", ".h5", ".msgpack", ".onnx", ".model")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    server: str  # "hub" or "cdn"
    method: str
    path: str  # unquoted, without the query string
    query: dict[str, str]
    range: str | None
    authorization: str | None
    status: int = 0
    body_bytes: int = 0  # body bytes actually written (less than announced when the connection was cut)
    file: str | None = None  # the repo file this request served, if any


@dataclass
class RepoFile:
    path: str
    data: bytes
    lfs: bool
    sha256: str = field(init=False)
    blob_id: str = field(init=False)
    pointer: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256(self.data).hexdigest()
        self.pointer = (f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\n"
                        f"size {len(self.data)}\n").encode()
        stored = self.pointer if self.lfs else self.data
        self.blob_id = hashlib.sha1(b"blob %d\0" % len(stored) + stored).hexdigest()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, hub: HubServer, role: str):
        self.hub, self.role = hub, role
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self.server.hub._handle(self, "GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self.server.hub._handle(self, "HEAD")


class HubServer:
    """Serves ``root_dir/<org>/<name>/...`` as hub model repos on 127.0.0.1.

    Use as a context manager (or call ``close()``). Every file in a repo
    directory is a repo file; files with an LFS suffix (or at least
    ``lfs_min_size`` bytes) are LFS files. Contents are read at request time,
    so tests may write repos after the server has started.
    """

    def __init__(self, root_dir: str | Path, *, lfs_suffixes: tuple[str, ...] = DEFAULT_LFS_SUFFIXES,
                 lfs_min_size: int = 10 * 1024 * 1024):
        self.root = Path(root_dir)
        self.lfs_suffixes = lfs_suffixes
        self.lfs_min_size = lfs_min_size
        self.requests: list[RecordedRequest] = []
        self.throttle_bytes_per_s: int | None = None  # slow file bodies down, so a test can interrupt a download
        self._lock = threading.Lock()
        self._cuts: dict[tuple[str, str], list[int]] = {}  # (repo, path) -> [after_bytes, times_left]
        self._corrupt: dict[tuple[str, str], int | None] = {}  # (repo, path) -> times_left (None: always)
        self._gated: dict[str, set[str]] = {}  # repo -> tokens granted access
        self._hub = _Server(self, "hub")
        self._cdn = _Server(self, "cdn")
        self._threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.02},
                                          name=f"hub-server-{s.role}", daemon=True)
                         for s in (self._hub, self._cdn)]
        for thread in self._threads:
            thread.start()

    # -- lifecycle ---------------------------------------------------------
    @property
    def url(self) -> str:
        """The hub endpoint, for HF_ENDPOINT."""
        return f"http://127.0.0.1:{self._hub.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    def close(self) -> None:
        for server in (self._hub, self._cdn):
            server.shutdown()
            server.server_close()

    def __enter__(self) -> HubServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- fault injection ---------------------------------------------------
    def cut_connection(self, repo_id: str, path: str, after_bytes: int, times: int = 1) -> None:
        """For the next `times` GETs of the file, send `after_bytes` of the body, then close the socket."""
        with self._lock:
            self._cuts[(repo_id, path)] = [after_bytes, times]

    def corrupt(self, repo_id: str, path: str, times: int | None = None) -> None:
        """Serve the file with flipped bytes (same length) for the next `times` GETs (None: until cleared)."""
        with self._lock:
            self._corrupt[(repo_id, path)] = times

    def clear_faults(self) -> None:
        with self._lock:
            self._cuts.clear()
            self._corrupt.clear()

    def gate(self, repo_id: str, allowed_tokens: tuple[str, ...] | list[str] = ()) -> None:
        """Make the repo gated: its files need a token in `allowed_tokens` (metadata stays public, as on the hub)."""
        with self._lock:
            self._gated[repo_id] = set(allowed_tokens)

    # -- introspection -----------------------------------------------------
    def repo_files(self, repo_id: str) -> dict[str, RepoFile]:
        base = self.root / repo_id
        files: dict[str, RepoFile] = {}
        for p in sorted(base.rglob("*")):
            if p.is_file():
                rel = p.relative_to(base).as_posix()
                data = p.read_bytes()
                lfs = p.suffix in self.lfs_suffixes or len(data) >= self.lfs_min_size
                files[rel] = RepoFile(rel, data, lfs)
        return files

    def commit(self, repo_id: str) -> str:
        files = self.repo_files(repo_id)
        listing = "".join(f"{f.path}\0{f.blob_id}\n" for f in files.values())
        return hashlib.sha1(listing.encode()).hexdigest()

    def gets(self, path: str | None = None, server: str | None = None) -> list[RecordedRequest]:
        """GET requests that served content of repo file `path` (any file when None)."""
        return [r for r in self.requests if r.method == "GET" and r.file is not None
                and (path is None or r.file == path) and (server is None or r.server == server)]

    # -- request handling --------------------------------------------------
    def _handle(self, h: _Handler, method: str) -> None:
        split = urlsplit(h.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        rec = RecordedRequest(server=h.server.role, method=method, path=unquote(split.path), query=query,
                              range=h.headers.get("Range"), authorization=h.headers.get("Authorization"))
        # Logged before answering, with status and body size filled in before they are sent: the client may
        # act on the response (and the test read the log) before this thread gets to run again.
        with self._lock:
            self.requests.append(rec)
        try:
            if h.server.role == "cdn":
                self._cdn_request(h, method, split.path, query, rec)
            else:
                self._hub_request(h, method, split.path, query, rec)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True

    def _hub_request(self, h: _Handler, method: str, raw_path: str, query: dict[str, str], rec: RecordedRequest) -> None:
        parts = [unquote(p) for p in raw_path.split("/")[1:]]
        if len(parts) >= 4 and parts[0] == "api" and parts[1] == "models":
            repo_id, rest = f"{parts[2]}/{parts[3]}", parts[4:]
            if not self._repo_exists(repo_id):
                return self._error(h, rec, 404, "RepoNotFound", "Repository not found")
            if not rest or (len(rest) == 2 and rest[0] == "revision"):
                revision = rest[1] if rest else "main"
                if not self._revision_ok(repo_id, revision):
                    return self._error(h, rec, 404, "RevisionNotFound", f"Invalid rev id: {revision}")
                return self._json(h, rec, self._model_info(repo_id, query.get("blobs", "").lower() in ("1", "true")))
            if len(rest) >= 2 and rest[0] == "tree":
                revision, sub = rest[1], "/".join(rest[2:])
                if not self._revision_ok(repo_id, revision):
                    return self._error(h, rec, 404, "RevisionNotFound", f"Invalid rev id: {revision}")
                recursive = query.get("recursive", "").lower() in ("1", "true")
                return self._json(h, rec, self._tree(repo_id, sub, recursive))
            return self._error(h, rec, 404, None, "Not found")
        if len(parts) >= 5 and parts[2] == "resolve":
            repo_id, revision, path = f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:])
            return self._resolve(h, method, repo_id, revision, path, rec)
        return self._error(h, rec, 404, None, "Not found")

    def _resolve(self, h: _Handler, method: str, repo_id: str, revision: str, path: str, rec: RecordedRequest) -> None:
        if not self._repo_exists(repo_id):
            return self._error(h, rec, 404, "RepoNotFound", "Repository not found")
        with self._lock:
            granted = self._gated.get(repo_id)
        if granted is not None:
            auth = rec.authorization or ""
            token = auth[7:] if auth.startswith("Bearer ") else None
            if token is None:
                return self._error(h, rec, 401, "GatedRepo",
                                   f"Access to model {repo_id} is restricted. You must have access to it and be "
                                   "authenticated to access it. Please log in.")
            if token not in granted:
                return self._error(h, rec, 403, "GatedRepo",
                                   f"Access to model {repo_id} is restricted and you are not in the authorized list. "
                                   f"Visit {self.url}/{repo_id} to ask for access.")
        if not self._revision_ok(repo_id, revision):
            return self._error(h, rec, 404, "RevisionNotFound", f"Invalid rev id: {revision}")
        commit = self.commit(repo_id)
        f = self.repo_files(repo_id).get(path)
        if f is None:
            return self._error(h, rec, 404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": commit})
        headers = {"X-Repo-Commit": commit}
        if f.lfs:
            location = f"{self.cdn_url}/lfs/{f.sha256}?" + urlencode({"repo": repo_id, "file": path})
            headers.update({"Location": location, "X-Linked-Etag": f'"{f.sha256}"', "X-Linked-Size": str(len(f.data)),
                            "ETag": f'"{f.blob_id}"', "Content-Length": "0"})
            rec.status = 302
            h.send_response(302)
            for k, v in headers.items():
                h.send_header(k, v)
            h.end_headers()
            return None
        headers["ETag"] = f'"{f.blob_id}"'
        return self._content(h, method, repo_id, f, headers, rec)

    def _cdn_request(self, h: _Handler, method: str, raw_path: str, query: dict[str, str], rec: RecordedRequest) -> None:
        repo_id, path = query.get("repo", ""), query.get("file", "")
        f = self.repo_files(repo_id).get(path) if repo_id and self._repo_exists(repo_id) else None
        if f is None or raw_path != f"/lfs/{f.sha256}":
            return self._error(h, rec, 404, None, "NoSuchKey")
        return self._content(h, method, repo_id, f, {"ETag": f'"{f.sha256}"'}, rec)

    def _content(self, h: _Handler, method: str, repo_id: str, f: RepoFile, headers: dict[str, str],
                 rec: RecordedRequest) -> None:
        data = f.data
        rec.file = f.path
        cut_after: int | None = None
        if method == "GET":
            with self._lock:
                key = (repo_id, f.path)
                if key in self._corrupt:
                    left = self._corrupt[key]
                    data = _flip(data)
                    if left is not None:
                        if left <= 1:
                            del self._corrupt[key]
                        else:
                            self._corrupt[key] = left - 1
                if key in self._cuts:
                    cut_after = self._cuts[key][0]
                    self._cuts[key][1] -= 1
                    if self._cuts[key][1] <= 0:
                        del self._cuts[key]
        size = len(data)
        start, end, status = 0, size - 1, 200
        match = _RANGE.match(rec.range or "")
        if match:
            start = int(match.group(1))
            end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
            if start >= size or start > end:
                return self._error(h, rec, 416, None, "Range Not Satisfiable", {"Content-Range": f"bytes */{size}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        body = data[start:end + 1]
        headers.update({"Content-Length": str(len(body)), "Accept-Ranges": "bytes",
                        "Content-Type": "application/octet-stream"})
        rec.status = status
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        if method == "HEAD":
            return None
        if cut_after is not None and cut_after < len(body):
            rec.body_bytes = cut_after
            h.wfile.write(body[:cut_after])
            h.wfile.flush()
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return None
        rec.body_bytes = len(body)
        rate = self.throttle_bytes_per_s
        if rate:
            chunk = max(1024, rate // 20)
            for i in range(0, len(body), chunk):
                h.wfile.write(body[i:i + chunk])
                h.wfile.flush()
                time.sleep(len(body[i:i + chunk]) / rate)
            return None
        h.wfile.write(body)
        return None

    # -- payloads ----------------------------------------------------------
    def _repo_exists(self, repo_id: str) -> bool:
        return bool(re.fullmatch(r"[\w.-]+/[\w.-]+", repo_id)) and (self.root / repo_id).is_dir()

    def _revision_ok(self, repo_id: str, revision: str) -> bool:
        return revision == "main" or revision == self.commit(repo_id)

    def _model_info(self, repo_id: str, blobs: bool) -> dict[str, Any]:
        files = self.repo_files(repo_id)
        with self._lock:
            gated = "manual" if repo_id in self._gated else False
        siblings = []
        for f in files.values():
            entry: dict[str, Any] = {"rfilename": f.path}
            if blobs:
                entry.update(size=len(f.data), blobId=f.blob_id)
                if f.lfs:
                    entry["lfs"] = {"sha256": f.sha256, "size": len(f.data), "pointerSize": len(f.pointer)}
            siblings.append(entry)
        return {"_id": hashlib.md5(repo_id.encode()).hexdigest()[:24], "id": repo_id, "modelId": repo_id,
                "author": repo_id.split("/")[0], "sha": self.commit(repo_id), "lastModified": "2025-01-01T00:00:00.000Z",
                "private": False, "gated": gated, "disabled": False, "tags": [], "library_name": "transformers",
                "siblings": siblings}

    def _tree(self, repo_id: str, sub: str, recursive: bool) -> list[dict[str, Any]]:
        prefix = f"{sub.strip('/')}/" if sub.strip("/") else ""
        entries: list[dict[str, Any]] = []
        dirs: set[str] = set()
        for f in self.repo_files(repo_id).values():
            if not f.path.startswith(prefix):
                continue
            rest = f.path[len(prefix):]
            if "/" in rest and not recursive:
                dirs.add(prefix + rest.split("/")[0])
                continue
            for i, _ in enumerate(rest.split("/")[:-1]):
                dirs.add(prefix + "/".join(rest.split("/")[:i + 1]))
            entry: dict[str, Any] = {"type": "file", "oid": f.blob_id, "size": len(f.data), "path": f.path}
            if f.lfs:
                entry["lfs"] = {"oid": f.sha256, "size": len(f.data), "pointerSize": len(f.pointer)}
            entries.append(entry)
        entries += [{"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d}
                    for d in sorted(dirs)]
        return entries

    def _json(self, h: _Handler, rec: RecordedRequest, payload: Any) -> None:
        body = json.dumps(payload).encode()
        rec.status = 200
        h.send_response(200)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if rec.method == "GET":
            rec.body_bytes = len(body)
            h.wfile.write(body)

    def _error(self, h: _Handler, rec: RecordedRequest, status: int, code: str | None, message: str,
               extra: dict[str, str] | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        rec.status = status
        h.send_response(status)
        if code:
            h.send_header("X-Error-Code", code)
        h.send_header("X-Error-Message", message)
        for k, v in (extra or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if rec.method == "GET":
            h.wfile.write(body)


def _flip(data: bytes) -> bytes:
    """The same length with a byte flipped every 4 KiB, so any range of a corrupt file is corrupt too."""
    out = bytearray(data)
    for i in range(0, len(out), 4096):
        out[i] ^= 0xFF
    return bytes(out)


def closed_port_url() -> str:
    """An http URL on loopback where nothing listens (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def write_repo(root: Path, repo_id: str, files: dict[str, bytes | str]) -> Path:
    """Create `root/<repo_id>/` with the given files (str content is UTF-8 encoded)."""
    base = root / repo_id
    for rel, content in files.items():
        target = base / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)
    return base


__all__ = ["HubServer", "RecordedRequest", "closed_port_url", "write_repo"]

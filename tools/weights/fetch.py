"""Resumable download of one large (LFS) file, across calls and processes.

huggingface_hub 2.4 cannot resume an interrupted download on the next call: it
writes each file to a process-unique `<etag>.<nonce>.incomplete` file and
deletes it when the transfer fails (huggingface/huggingface_hub#4228; see issue
#4196), so a re-run of snapshot_download starts every file from byte zero.
Weights are tens of GB, so LFS files are fetched here instead, into
`<dest>/.cache/modeldeploy/partial/<name>.<sha256>.incomplete`, a name that
depends only on the content, which the next call continues with
`Range: bytes=<partial size>-`. A file lock keeps two processes from appending
to the same partial; the final sha256 check catches anything else.

The requests still go through huggingface_hub: `get_hf_file_metadata` makes the
HEAD call (it resolves the CDN location and raises the hub's own errors:
gated, not found, ...), `build_hf_headers` adds the user's token from HF_TOKEN
or the HF cache (sent to the hub's own origin only, never to a CDN, as
huggingface_hub does), and the GET uses its shared session (offline mode,
proxies). This module never reads, logs or keeps the token.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
from huggingface_hub import constants, get_hf_file_metadata
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import WeakFileLock, build_hf_headers, get_session, hf_raise_for_status

PARTIAL_DIR = Path(".cache") / "modeldeploy" / "partial"
LOCK_WAIT_S = 5.0
_RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
_EXPIRED_STATUSES = (401, 403, 404, 410)  # a signed CDN url that expired: ask the hub for a fresh one
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_HUB_ORIGINS = {("https", "huggingface.co", 443), ("https", "hf.co", 443)}


class TransferInterrupted(Exception):
    """The connection kept failing; `have` bytes of `name` are kept for the next call."""

    def __init__(self, name: str, have: int, size: int, cause: BaseException):
        super().__init__(f"{name}: {have} of {size} bytes after {cause.__class__.__name__}")
        self.name, self.have, self.size, self.cause = name, have, size, cause


class SizeMismatch(Exception):
    """The hub or the CDN announced or sent a size other than the plan's."""

    def __init__(self, name: str, expected: int, actual: int):
        super().__init__(f"{name}: expected {expected} bytes, the server has {actual}")
        self.name, self.expected, self.actual = name, expected, actual


class Cancelled(Exception):
    """Another file's download failed; this one stopped early (its partial is kept)."""


@dataclass
class FetchStats:
    downloaded: int = 0  # bytes received by this call
    reused: int = 0  # bytes of an earlier partial that this call continued from


def partial_path(dest: Path, name: str, sha256: str) -> Path:
    return dest / PARTIAL_DIR / f"{name}.{sha256}.incomplete"


def partial_size(dest: Path, name: str, sha256: str) -> int:
    try:
        return partial_path(dest, name, sha256).stat().st_size
    except OSError:
        return 0


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)


def _send_token_to(url: str, location: str) -> bool:
    """The token goes to the hub's own origin (or huggingface.co), never to a CDN or storage host."""
    return _origin(location) in {_origin(url), *_HUB_ORIGINS}


def _start_of(response: httpx2.Response) -> int:
    """Where the body starts in the file: the Content-Range start for a 206, 0 for a 200."""
    if response.status_code != 206:
        return 0
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else 0


def _truncate(path: Path, size: int) -> None:
    with path.open("ab") as f:
        f.truncate(size)


def fetch_lfs_file(url: str, dest: Path, name: str, size: int, sha256: str, *, on_bytes: Callable[[int], None],
                   retries: int = 5, etag_timeout: float = 10.0, cancel: threading.Event | None = None,
                   restart: bool = False) -> FetchStats:
    """Download `url` (a hub /resolve URL) to `dest/name`, continuing a partial left by an earlier call.

    A failure after some bytes arrived is retried at once with a Range request;
    `retries` bounds the failures in a row (each waiting 1, 2, 4... s when no
    byte arrived). Raises TransferInterrupted when they run out, keeping the
    partial. `restart` discards the partial first (after a failed sha256).
    """
    part = partial_path(dest, name, sha256)
    part.parent.mkdir(parents=True, exist_ok=True)
    stats = FetchStats()
    with WeakFileLock(part.with_name(part.name + ".lock"), timeout=LOCK_WAIT_S):
        if restart:
            part.unlink(missing_ok=True)
        have = part.stat().st_size if part.exists() else 0
        if have > size:
            part.unlink()
            have = 0
        stats.reused = have
        location: str | None = None
        send_token = False
        failures = 0
        while have < size:
            if cancel is not None and cancel.is_set():
                raise Cancelled(name)
            got = 0
            try:
                if location is None:
                    meta = get_hf_file_metadata(url, timeout=etag_timeout)
                    if meta.size is not None and meta.size != size:
                        raise SizeMismatch(name, size, meta.size)
                    location, send_token = meta.location, _send_token_to(url, meta.location)
                headers = build_hf_headers(token=None if send_token else False)
                headers["Accept-Encoding"] = "identity"
                if have:
                    headers["Range"] = f"bytes={have}-"
                with get_session().stream("GET", location, headers=headers, follow_redirects=True,
                                          timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT) as response:
                    if response.status_code == 416 and have:
                        _truncate(part, 0)  # the partial is not a prefix of this file: start over
                        have, stats.reused = 0, 0
                        continue
                    if response.status_code in _EXPIRED_STATUSES and not send_token:
                        location = None
                        raise httpx2.RemoteProtocolError(f"CDN answered {response.status_code}")
                    hf_raise_for_status(response)
                    start = _start_of(response)
                    if start != have:
                        _truncate(part, start)
                        have, stats.reused = start, min(stats.reused, start)
                    with part.open("ab") as out:
                        for chunk in response.iter_bytes():
                            if cancel is not None and cancel.is_set():
                                raise Cancelled(name)
                            out.write(chunk)
                            have += len(chunk)
                            got += len(chunk)
                            stats.downloaded += len(chunk)
                            on_bytes(len(chunk))
                            if have > size:
                                raise SizeMismatch(name, size, have)
                if not got:
                    raise httpx2.RemoteProtocolError("empty response body")
            except (httpx2.TransportError, HfHubHTTPError) as exc:
                if isinstance(exc, HfHubHTTPError) and exc.response.status_code not in _RETRY_STATUSES:
                    raise
                failures = 1 if got else failures + 1
                if failures > retries:
                    raise TransferInterrupted(name, have, size, exc) from exc
                if not got:
                    time.sleep(min(2 ** (failures - 1), 10))
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, target)
    return stats

"""Checking downloaded files: sizes, sha256 of LFS files, git blob sha1 of small files.

Hashing hundreds of GB takes minutes, so a successful check is stamped in
`<dest>/.cache/modeldeploy/verified.json` with the file's size, mtime and inode;
a later call trusts the stamp only while the file is unchanged on disk.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from pathlib import Path

from modeldeploy.tools.atomic_write import write_text_atomic
from modeldeploy.tools.weights.schema import PlannedFile

_CHUNK = 4 * 1024 * 1024
STAMP_FILE = Path(".cache") / "modeldeploy" / "verified.json"


def sha256_file(path: Path, on_bytes: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            if on_bytes:
                on_bytes(len(chunk))
    return digest.hexdigest()


def git_blob_sha1(path: Path) -> str:
    """The git object id of the file's content (what the hub reports as blobId for non-LFS files)."""
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def expected_digest(f: PlannedFile) -> tuple[str, str | None]:
    """(check kind, expected digest) for a planned file."""
    if f.lfs and f.sha256:
        return "sha256", f.sha256
    if not f.lfs and f.blob_id:
        return "git-sha1", f.blob_id
    return "size", None


class Stamps:
    """Remembers which files were verified, keyed by path and invalidated by any change on disk."""

    def __init__(self, dest: Path):
        self.path = dest / STAMP_FILE
        self._lock = threading.Lock()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self._entries: dict[str, dict] = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            self._entries = {}

    @staticmethod
    def _key(path: Path) -> dict:
        st = path.stat()
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}

    def holds(self, name: str, path: Path, digest: str | None) -> bool:
        entry = self._entries.get(name)
        try:
            return bool(entry) and digest is not None and entry.get("digest") == digest and \
                {k: entry.get(k) for k in ("size", "mtime_ns", "ino")} == self._key(path)
        except OSError:
            return False

    def record(self, name: str, path: Path, digest: str | None) -> None:
        if digest is None:
            return
        with self._lock:
            self._entries[name] = {"digest": digest, **self._key(path)}

    def forget(self, name: str) -> None:
        with self._lock:
            self._entries.pop(name, None)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            text = json.dumps(self._entries, indent=1, sort_keys=True)
        write_text_atomic(self.path, text)


def check_file(f: PlannedFile, path: Path, stamps: Stamps, on_bytes: Callable[[int], None] | None = None) -> str | None:
    """None when `path` holds the planned file, else a short reason ('missing', 'size 3 != 5', 'sha256 ab.. != cd..')."""
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size != f.size:
        return f"size {size} != {f.size}"
    kind, digest = expected_digest(f)
    if digest is None or stamps.holds(f.name, path, digest):
        return None
    actual = sha256_file(path, on_bytes) if kind == "sha256" else git_blob_sha1(path)
    if actual != digest:
        return f"{kind} {actual[:12]}... != expected {digest[:12]}..."
    stamps.record(f.name, path, digest)
    return None

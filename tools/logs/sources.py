"""Where log lines come from: text, files (streamed), iterables, container logs; and line ranges.

Lines are split on ``\\n`` only (a ``\\r`` inside a line is a progress-bar
overwrite, not a line break), numbered from 1, the same way in `digest_log` and
`read_lines`, so a line number from a digest addresses the file on disk.

The digest reads *chunks*: blocks of whole lines (about `CHUNK_BYTES`) with
carriage returns resolved (`resolve_chunk`), joined by ``\\n`` without a final
terminator; ANSI escapes are removed later, only from the lines the digest keeps
(colour codes do not change a line's cached shape from one line to the next). A file
is read block by block, never whole.
"""

from __future__ import annotations

import re
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator

from modeldeploy.tools.logs.clean import clean_bytes, resolve_chunk

CHUNK_BYTES = 1 << 18
BATCH_LINES = 2048
BINARY_SNIFF_BYTES = 8192

def _chunks_from_blocks(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """Arbitrary blocks of a byte stream to cleaned chunks of whole lines (the last line may lack its ``\\n``)."""
    pending = b""
    for block in blocks:
        if not block:
            continue
        buf = pending + block if pending else block
        cut = buf.rfind(b"\n")
        if cut < 0:
            pending = buf
            continue
        pending = buf[cut + 1:]
        yield resolve_chunk(buf[:cut])
    if pending:
        yield resolve_chunk(pending)


def _file_blocks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while True:
            block = fh.read(CHUNK_BYTES)
            if not block:
                return
            yield block


def _text_chunks(data: bytes) -> Iterator[bytes]:
    """Whole-line slices of in-memory text (one copy each), without the final terminator."""
    if data.endswith(b"\n"):
        data = data[:-1]
    elif not data:
        return
    pos, size = 0, len(data)
    while pos <= size:
        end = data.find(b"\n", pos + CHUNK_BYTES) if pos + CHUNK_BYTES < size else -1
        if end < 0:
            yield resolve_chunk(data[pos:])
            return
        yield resolve_chunk(data[pos:end])
        pos = end + 1


def _line_chunks(items: Iterable[str | bytes]) -> Iterator[bytes]:
    """Batches of lines (each with or without its terminator) joined into chunks."""
    it = iter(items)
    while True:
        batch = list(islice(it, BATCH_LINES))
        if not batch:
            return
        if isinstance(batch[0], str):
            if _terminated(batch, "\n"):
                batch = [s[:-1] if s.endswith("\n") else s for s in batch]
            yield resolve_chunk("\n".join(batch).encode("utf-8", "surrogateescape"))
        else:
            if _terminated(batch, b"\n"):
                batch = [s[:-1] if s.endswith(b"\n") else s for s in batch]
            yield resolve_chunk(b"\n".join(batch))


def _terminated(batch: list, nl) -> bool:
    """Lines come with their terminators (as from readlines()): judged on the first and last of a batch."""
    return batch[0].endswith(nl) or batch[-1].endswith(nl)


def iter_source_chunks(source: str | Path | Iterable[str]) -> tuple[Iterable[bytes], str]:
    """(chunks, source name) for `digest_log`: a str is log text, a Path a file, anything else lines."""
    if isinstance(source, Path):
        return _chunks_from_blocks(_file_blocks(source)), str(source)
    if isinstance(source, (str, bytes)):
        data = source.encode("utf-8", "surrogateescape") if isinstance(source, str) else source
        return _text_chunks(data), "text"
    return _line_chunks(source), "text"


def read_lines(path: str | Path, start: int, end: int, *, clean: bool = False) -> list[str]:
    """Lines `start`..`end` (1-based, inclusive) of a log file, streamed; fewer if the file is shorter.

    Verbatim (without the line terminator) unless `clean`, which resolves carriage returns and removes ANSI.
    """
    if start < 1 or end < start:
        raise ValueError(f"invalid line range {start}-{end} (1-based, inclusive)")
    out = []
    with open(path, "rb") as fh:
        for raw in islice(fh, start - 1, end):
            raw = raw[:-1] if raw.endswith(b"\n") else raw
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            out.append((clean_bytes(raw) if clean else raw).decode("utf-8", "replace"))
    return out


def is_binary_file(path: str | Path) -> bool:
    """A NUL byte, or more than 10% control bytes, in the first 8 KiB."""
    with open(path, "rb") as fh:
        head = fh.read(BINARY_SNIFF_BYTES)
    if not head:
        return False
    if b"\x00" in head:
        return True
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return control / len(head) > 0.1


def container_log_lines(container) -> Iterator[bytes]:
    """A Docker container's log (stdout and stderr, as `docker logs` shows it), streamed as bytes lines."""
    pending = b""
    for chunk in container.logs(stream=True, stdout=True, stderr=True, follow=False):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        yield from lines
    if pending:
        yield pending


# -- a log named on the command line: a file, or a deployment's log -------------------------------------

_DEPLOYMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _checked_file(path: Path, what: str) -> Path:
    from modeldeploy.errors import UserInputError

    if path.is_dir():
        raise UserInputError(f"{what} is a directory, not a log file")
    try:
        binary = is_binary_file(path)
    except OSError as exc:
        raise UserInputError(f"cannot read {what}: {exc.strerror or exc}") from None
    if binary:
        raise UserInputError(f"{what} is a binary file, not a text log")
    return path


def open_log_source(source: str) -> tuple[Path | Iterator[bytes], str]:
    """(lines source for `digest_log`, display name) for a file path or a deployment name.

    A deployment's log is ``$MODELDEPLOY_HOME/deployments/<name>/server.log`` (the process runtime)
    when it exists, else the log of the newest Docker container labelled ``modeldeploy.deployment=<name>``.
    Raises `UserInputError` (one line) for a missing or binary file and an unknown deployment.
    """
    from modeldeploy import settings
    from modeldeploy.errors import UserInputError

    path = Path(source).expanduser()
    if path.exists():
        return _checked_file(path, str(source)), str(source)
    if "/" in source or "\\" in source or source.startswith(".") or source.endswith((".log", ".txt", ".out")):
        raise UserInputError(f"no such log file: {source}")
    if not _DEPLOYMENT_NAME.match(source):
        raise UserInputError(f"{source!r} is neither a log file nor a deployment name")
    server_log = settings.home_dir() / "deployments" / source / "server.log"
    if server_log.is_file():
        return _checked_file(server_log, str(server_log)), f"deployment {source} ({server_log})"
    container, problem = _deployment_container(source)
    if container is None:
        raise UserInputError(f"no deployment named {source}: no {server_log} and {problem}")
    return container_log_lines(container), f"deployment {source} (container {container.name})"


def _deployment_container(name: str):
    """(newest container labelled for the deployment, None) or (None, why not)."""
    try:
        import docker
        from docker.errors import DockerException

        from modeldeploy.tools.runtimes.docker_runtime import DEPLOYMENT_LABEL
    except ImportError as exc:  # pragma: no cover - docker is a dependency
        return None, f"the Docker SDK is not installed ({exc})"
    try:
        client = docker.from_env(timeout=30)
        containers = client.containers.list(all=True, filters={"label": f"{DEPLOYMENT_LABEL}={name}"})
    except DockerException as exc:
        reason = " ".join(str(exc).split())[:160]
        return None, f"the Docker engine is unreachable ({reason})"
    if not containers:
        return None, f"no container labelled {DEPLOYMENT_LABEL}={name}"
    return max(containers, key=lambda c: c.attrs.get("Created", "")), ""

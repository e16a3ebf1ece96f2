"""Raw reads to server-sent events, each with the arrival time of the read that completed it."""

from __future__ import annotations

from typing import Iterator, Sequence


def events(times: Sequence[float], reads: Sequence[bytes]) -> Iterator[tuple[float, str]]:
    """(arrival time, data payload) per event; an event arrives when its terminating blank line does."""
    buffer = b""
    for t, data in zip(times, reads):
        buffer += data
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        while True:
            end = buffer.find(b"\n\n")
            if end < 0:
                break
            block, buffer = buffer[:end], buffer[end + 2:]
            payload = [line[5:].lstrip() for line in block.split(b"\n") if line.startswith(b"data:")]
            if payload:
                yield t, b"\n".join(payload).decode("utf-8", "replace")
    if buffer.strip() and times:  # a stream cut without the final blank line
        payload = [line[5:].lstrip() for line in buffer.split(b"\n") if line.startswith(b"data:")]
        if payload:
            yield times[-1], b"\n".join(payload).decode("utf-8", "replace")

"""Server-sent events in the framing `langgraph_sdk` parses: `id:`, `event:`, `data:` lines, then a blank line."""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable

from starlette.responses import StreamingResponse

from modeldeploy.api.events import Event, EventLog
from modeldeploy.api.jsonable import dumps

HEARTBEAT = b": heartbeat\n\n"
"""A comment line: keeps proxies and the connection alive; SSE parsers ignore it."""


def frame(event: Event) -> bytes:
    return f"id: {event.id}\nevent: {event.event}\ndata: {dumps(event.data)}\n\n".encode()


def _wanted(event: str, modes: set[str] | None) -> bool:
    if modes is None or event in ("metadata", "end", "error"):
        return True
    return event.split("|", 1)[0] in modes


async def frames(log: EventLog, last_id: int, modes: set[str] | None, heartbeat_s: float) -> AsyncIterator[bytes]:
    async for event in log.follow(last_id, heartbeat_s):
        if event is None:
            yield HEARTBEAT
        elif _wanted(event.event, modes):
            yield frame(event)


def sse_response(log: EventLog, *, last_id: int = 0, modes: set[str] | None = None, heartbeat_s: float,
                 location: str | None = None, on_disconnect: Callable[[], Any] | None = None) -> StreamingResponse:
    """Stream the run's events; `location` lets the SDK re-join by itself after a dropped connection."""

    async def body() -> AsyncIterator[bytes]:
        finished = False
        try:
            async for chunk in frames(log, last_id, modes, heartbeat_s):
                yield chunk
            finished = True
        finally:
            if not finished and on_disconnect is not None:
                on_disconnect()

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    if location:
        headers["Location"] = location
        headers["Content-Location"] = location.removesuffix("/stream")
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)

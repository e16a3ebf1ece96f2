"""Progress from blocking work in a worker thread, relayed as MCP progress notifications of the calling request.

The long tools (deploy, bench, eval) run their existing blocking APIs with
`asyncio.to_thread`; those report events from the worker thread. `ProgressRelay`
queues each event onto the server's event loop, where one task sends them in
order with `ctx.report_progress` (a no-op when the client sent no progressToken),
and every queued event is sent before the tool's result. `GraphProgress` is the
graph-run adapter (the interface of `cli.progress.NodeProgress`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from mcp.server.fastmcp import Context

T = TypeVar("T")


class ProgressRelay:
    """Messages posted from any thread become numbered progress notifications of one request."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.sent = 0

    def post(self, message: str) -> None:
        """Queue one progress message; callable from the worker thread."""
        self.loop.call_soon_threadsafe(self.queue.put_nowait, message)

    async def _pump(self) -> None:
        while (message := await self.queue.get()) is not None:
            self.sent += 1
            try:
                await self.ctx.report_progress(self.sent, None, message)
            except Exception:  # noqa: BLE001 - a client that went away must not fail the work itself
                pass

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` in a worker thread; its posted messages are all sent before this returns."""
        pump = asyncio.create_task(self._pump())
        try:
            result = await asyncio.to_thread(fn, *args, **kwargs)
        except Exception:
            self.queue.put_nowait(None)  # the messages queued before the failure still go out, in order
            await pump
            raise
        except BaseException:  # cancelled: the request is gone, nobody reads its progress
            pump.cancel()
            raise
        self.queue.put_nowait(None)
        await pump
        return result


class GraphProgress:
    """The graph's custom-stream events (node start / message / done) as progress messages."""

    def __init__(self, relay: ProgressRelay) -> None:
        self.relay = relay

    def __enter__(self) -> GraphProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def handle(self, event: dict[str, Any]) -> None:
        node = str(event.get("node", "?")).replace("_", " ")
        kind, message = event.get("event"), event.get("message")
        if kind == "start":
            self.relay.post(f"{node}: started")
        elif kind == "done":
            self.relay.post(f"{node}: {event.get('outcome') or 'done'}" + (f" ({message})" if message else ""))
        elif message:
            self.relay.post(f"{node}: {message}")

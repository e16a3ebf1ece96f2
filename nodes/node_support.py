"""What every node does the same way: progress events on the custom stream, audit entries, timing."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable
from typing import Any

from langgraph.runtime import Runtime
from pydantic import BaseModel

from modeldeploy.schemas.run import AuditEntry


def dump(model: BaseModel | None) -> Any:
    """JSON-ready form of a model for a state channel."""
    return None if model is None else model.model_dump(mode="json")


def emit(runtime: Runtime, node: str, event: str, message: str = "", **data: Any) -> None:
    """A progress event: the CLI draws it, the HTTP API streams it (stream_mode="custom")."""
    runtime.stream_writer({"node": node, "event": event, "message": message, **data})


def emitter_for_threads(runtime: Runtime, node: str) -> Callable[..., None]:
    """`emit` for callbacks that run in other threads (a download's or a pull's worker pool).

    Call it in the node's coroutine. The event is handed to the node's event loop and written in the
    node's context: LangGraph's stream writer reads the run's config from a context variable, which a
    bare worker thread does not have (it raised "Called get_config outside of a runnable context").
    """
    loop, context = asyncio.get_running_loop(), contextvars.copy_context()

    def emit_from_thread(event: str, message: str = "", **data: Any) -> None:
        try:
            loop.call_soon_threadsafe(lambda: emit(runtime, node, event, message, **data), context=context)
        except RuntimeError:
            pass  # the loop is closed (the run was cancelled, the worker still reports): nobody is listening
    return emit_from_thread


class Step:
    """Times a node and produces its audit entry."""

    def __init__(self, runtime: Runtime, node: str):
        self.runtime, self.node, self.started = runtime, node, time.perf_counter()
        emit(runtime, node, "start")

    def done(self, action: str, outcome: str = "ok", message: str = "", **detail: Any) -> dict[str, Any]:
        ms = int((time.perf_counter() - self.started) * 1000)
        emit(self.runtime, self.node, "done", message, outcome=outcome, duration_ms=ms)
        return dump(AuditEntry(node=self.node, action=action, outcome=outcome, detail=detail, duration_ms=ms))


def fail(step: Step, action: str, error: str, **detail: Any) -> dict[str, Any]:
    """The update of a node that failed: the error, status failed, the audit entry. Route to cleanup."""
    return {"error": error, "status": "failed", "audit": [step.done(action, "failed", error, **detail)]}

"""Run the deployment graph from the CLI: SQLite checkpointer, one thread per deployment, progress events.

A thread id is derived from the request, so re-running the same command after a
crash resumes the same thread where it stopped (nodes are idempotent).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from modeldeploy.cli.progress import NodeProgress
from modeldeploy.graph import Context, make_builder
from modeldeploy.graph.checkpointer import has_checkpoints, open_checkpointer
from modeldeploy.graph.run_state import unfinished


@dataclass
class RunOutcome:
    values: dict[str, Any]
    thread_id: str
    pending: tuple[str, ...] = ()
    interrupts: list[Any] = field(default_factory=list)
    resumed: bool = False


def thread_for(request: dict[str, Any]) -> str:
    """Deterministic thread id of a deployment request (approval is not part of the identity)."""
    identity = {k: v for k, v in request.items() if k not in ("approve", "hardware")}
    return "deploy-" + hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


async def _nothing():
    return
    yield


async def _latest_run(graph: Any, base: str) -> tuple[str, bool]:
    """The thread to use for request `base`: (thread id, whether it holds an unfinished run to continue).

    Runs of the same request live on threads base, base-2, base-3...: a finished run is never
    overwritten, an unfinished one (crashed, or waiting for approval) is continued.
    """
    latest, n = None, 1
    while True:
        candidate = base if n == 1 else f"{base}-{n}"
        snapshot = await graph.aget_state({"configurable": {"thread_id": candidate}})
        if not snapshot.values:
            break
        latest, n = (candidate, snapshot), n + 1
    if latest is None:
        return base, False
    thread_id, snapshot = latest
    if unfinished(snapshot):
        return thread_id, True
    return (base if n == 1 else f"{base}-{n}"), False


async def arun_graph(inputs: Any, context: Context, thread_id: str, progress: Any, resume_pending: bool = False) -> RunOutcome:
    """Run (or resume) the graph inside a running event loop; `progress` is any sink with handle(event) and a context."""
    from langgraph.types import Command

    async with open_checkpointer(context.database_url) as saver:
        graph = make_builder().compile(checkpointer=saver, name="modeldeploy")
        resumed, run_it = False, True
        if resume_pending and not isinstance(inputs, Command):
            thread_id, open_run = await _latest_run(graph, thread_id)
            snapshot = await graph.aget_state({"configurable": {"thread_id": thread_id}})
            if open_run and not any(t.interrupts for t in snapshot.tasks):
                inputs, resumed = None, True  # a crashed run: continue where it stopped
            elif open_run:
                run_it = False  # waiting for approval: report the pending question again
        config = {"configurable": {"thread_id": thread_id}}
        with progress:
            # durability="sync": each step's checkpoint is on disk before the next step starts, so a SIGKILL
            # at any point leaves a thread the same command can resume.
            stream = graph.astream(inputs, config=config, context=context, stream_mode=["custom", "values"],
                                   durability="sync") if run_it else _nothing()
            async for mode, chunk in stream:
                if mode == "custom":
                    progress.handle(chunk)
        snapshot = await graph.aget_state(config)
    interrupts = [i.value for t in snapshot.tasks for i in t.interrupts]
    return RunOutcome(snapshot.values, thread_id, tuple(snapshot.next), interrupts, resumed)


async def pending_interrupts(thread_id: str) -> list[Any]:
    """The approval requests a thread is waiting on (empty when none)."""
    if not has_checkpoints():
        return []
    async with open_checkpointer() as saver:
        graph = make_builder().compile(checkpointer=saver)
        snapshot = await graph.aget_state({"configurable": {"thread_id": thread_id}})
    return [i.value for t in snapshot.tasks for i in t.interrupts]


def run_graph(inputs: Any, context: Context, show_progress: bool, thread_id: str | None = None,
              resume_pending: bool = False) -> RunOutcome:
    """Run (or resume) the graph on `thread_id` (a fresh one when None) and return where it stopped."""
    import uuid

    progress = NodeProgress(enabled=None if show_progress else False)
    return asyncio.run(arun_graph(inputs, context, thread_id or str(uuid.uuid4()), progress, resume_pending))

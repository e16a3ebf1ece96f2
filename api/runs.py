"""Runs as background asyncio tasks: one at a time per thread, any number across threads.

multitask_strategy, when a thread already has a pending or running run:
- `reject`: 409, nothing is started;
- `enqueue` (default): the new run waits (status `pending`) and starts when the earlier ones end;
- `interrupt`: the earlier runs are cancelled (their checkpoints are kept), then the new one starts;
- `rollback`: refused with 422 (not supported).
Cancelling a run (`action=interrupt`) stops it at its next await; nodes are idempotent, so a later run
on the same thread continues from the last checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from modeldeploy.api.config import ApiSettings
from modeldeploy.api.errors import ApiError, not_found
from modeldeploy.api.events import EventLog
from modeldeploy.api.execute import execute
from modeldeploy.api.graphs import ServedGraph
from modeldeploy.api.requests import RunCreate
from modeldeploy.api.state_view import thread_status
from modeldeploy.api.thread_store import ThreadStore, now_iso

log = logging.getLogger("modeldeploy.api")
ACTIVE = ("pending", "running")


@dataclass(eq=False)
class Run:
    run_id: str
    thread_id: str
    assistant_id: str
    graph_id: str
    request: RunCreate
    context: Any
    stateless: bool
    events: EventLog
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    status: str = "pending"
    cancel_reason: str | None = None
    result: Any = None
    error: dict[str, Any] | None = None
    snapshot: Any = None
    task: asyncio.Task | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def document(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "thread_id": self.thread_id, "assistant_id": self.assistant_id,
                "created_at": self.created_at, "updated_at": self.updated_at, "status": self.status,
                "metadata": self.request.metadata or {}, "multitask_strategy": self.request.multitask_strategy,
                "kwargs": {"stream_mode": self.request.modes(), "graph_id": self.graph_id},
                "cancel_reason": self.cancel_reason}

    @property
    def stream_path(self) -> str:
        return f"/threads/{self.thread_id}/runs/{self.run_id}/stream"

    def wait_result(self) -> Any:
        """What /wait and /join answer: the thread's values (with `__interrupt__`), or `__error__`."""
        if self.error:
            return {"__error__": self.error}
        return self.result


class RunManager:
    """Starts, orders, cancels and remembers runs."""

    def __init__(self, settings: ApiSettings, threads: ThreadStore) -> None:
        self.settings = settings
        self.threads = threads
        self.runs: OrderedDict[str, Run] = OrderedDict()
        self._thread_locks: dict[str, asyncio.Lock] = {}

    # --- queries ---------------------------------------------------------------------------------
    def get(self, thread_id: str | None, run_id: str) -> Run:
        run = self.runs.get(run_id)
        if run is None or (thread_id is not None and run.thread_id != thread_id):
            raise not_found(f"run {run_id}")
        return run

    def of_thread(self, thread_id: str) -> list[Run]:
        return [r for r in self.runs.values() if r.thread_id == thread_id]

    def active(self, thread_id: str) -> list[Run]:
        return [r for r in self.of_thread(thread_id) if r.status in ACTIVE]

    # --- lifecycle -------------------------------------------------------------------------------
    async def start(self, served: ServedGraph, req: RunCreate, thread_id: str | None) -> Run:
        """Create and schedule a run on `thread_id` (None: a stateless run on a temporary thread)."""
        context = served.context(req.context)
        if req.input is not None:
            served.check_input(req.input)
        from modeldeploy.api.execute import check_nodes

        check_nodes(served, req.interrupt_before, "interrupt_before")
        check_nodes(served, req.interrupt_after, "interrupt_after")
        stateless = thread_id is None
        thread_id = thread_id or str(uuid.uuid4())
        busy = self.active(thread_id)
        if busy and req.multitask_strategy == "reject":
            raise ApiError(409, f"thread {thread_id} is busy with run {busy[0].run_id} (multitask_strategy=reject)")
        if req.command is not None and req.command.resume is not None and not busy:
            snapshot = await served.graph.aget_state({"configurable": {"thread_id": thread_id}})
            if not any(t.interrupts for t in snapshot.tasks):
                raise ApiError(409, f"thread {thread_id} is not waiting on an interrupt: nothing to resume")
        if req.multitask_strategy == "interrupt":
            for other in busy:
                self.cancel(other, "interrupted by a newer run (multitask_strategy=interrupt)")
        run = Run(run_id=str(uuid.uuid4()), thread_id=thread_id, assistant_id=served.assistant_id,
                  graph_id=served.entry.graph_id, request=req, context=context, stateless=stateless,
                  events=EventLog(self.settings.max_events_per_run))
        self.runs[run.run_id] = run
        await run.events.append("metadata", {"run_id": run.run_id, "thread_id": thread_id, "attempt": 1})
        if not stateless:
            await self.threads.update(thread_id, status="busy")
        run.task = asyncio.create_task(self._run(run, served), name=f"run-{run.run_id}")
        self._forget_old()
        return run

    async def _run(self, run: Run, served: ServedGraph) -> None:
        lock = self._thread_locks.setdefault(run.thread_id, asyncio.Lock())
        try:
            async with lock:
                if run.status in ACTIVE:
                    run.status, run.updated_at = "running", now_iso()
                    await execute(run, served, run.request.durability or self.settings.default_durability)
                    await run.events.append("end", None)
        except asyncio.CancelledError:
            run.status = "interrupted"
            run.error = run.error or {"error": "Cancelled", "message": run.cancel_reason or "the run was cancelled"}
            await run.events.append("error", run.error)
        except Exception as exc:  # the graph failed: the client gets an `error` event, not a dropped stream
            log.warning("run %s failed: %s: %s", run.run_id, type(exc).__name__, exc)
            run.status = "error"
            run.error = {"error": type(exc).__name__, "message": str(exc)}
            await run.events.append("error", run.error)
        finally:
            run.updated_at = now_iso()
            await self._after(run, served)
            run.done.set()

    async def _after(self, run: Run, served: ServedGraph) -> None:
        try:
            if run.stateless:
                if run.request.on_completion == "delete":
                    await self.threads.delete(run.thread_id)
                return
            if not self.active(run.thread_id):
                snapshot = run.snapshot or await served.graph.aget_state({"configurable": {"thread_id": run.thread_id}})
                await self.threads.update(run.thread_id, status=thread_status(snapshot, False, run.status == "error"))
        except Exception:  # bookkeeping must not hide the run's own outcome
            log.exception("after run %s", run.run_id)

    def cancel(self, run: Run, reason: str = "cancelled by request") -> None:
        if run.status not in ACTIVE or run.task is None:
            return
        run.cancel_reason = reason
        if run.status == "pending":
            run.status = "interrupted"
        run.task.cancel()

    async def delete(self, run: Run) -> None:
        if run.status in ACTIVE:
            raise ApiError(409, f"run {run.run_id} is {run.status}: cancel it first")
        self.runs.pop(run.run_id, None)

    def _forget_old(self) -> None:
        finished = [r for r in self.runs.values() if r.done.is_set()]
        for run in finished[: max(0, len(finished) - self.settings.max_finished_runs)]:
            self.runs.pop(run.run_id, None)

    async def shutdown(self) -> None:
        """Cancel what still runs (its checkpoints stay: the same thread can be continued later)."""
        pending = [r for r in self.runs.values() if r.status in ACTIVE]
        for run in pending:
            self.cancel(run, "the server is shutting down")
        await asyncio.gather(*(r.task for r in pending if r.task), return_exceptions=True)

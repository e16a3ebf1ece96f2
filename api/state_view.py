"""LangGraph StateSnapshots as the protocol's ThreadState documents (what RemoteGraph rebuilds snapshots from)."""

from __future__ import annotations

from typing import Any

from modeldeploy.api.jsonable import to_json
from modeldeploy.graph.run_state import unfinished


def checkpoint_of(config: dict[str, Any] | None) -> dict[str, Any] | None:
    if not config:
        return None
    c = config.get("configurable", {})
    return {"thread_id": c.get("thread_id"), "checkpoint_ns": c.get("checkpoint_ns", ""),
            "checkpoint_id": c.get("checkpoint_id"), "checkpoint_map": c.get("checkpoint_map") or {}}


def interrupts_of(snapshot: Any) -> list[dict[str, Any]]:
    return [{"value": to_json(i.value), "id": i.id} for t in snapshot.tasks for i in t.interrupts]


def _task(task: Any) -> dict[str, Any]:
    state = task.state
    nested = state_document(state) if state is not None and hasattr(state, "values") else None
    return {"id": task.id, "name": task.name, "error": str(task.error) if task.error else None,
            "interrupts": [{"value": to_json(i.value), "id": i.id} for i in task.interrupts],
            "checkpoint": checkpoint_of(state) if isinstance(state, dict) else None,
            "state": nested, "result": to_json(getattr(task, "result", None))}


def state_document(snapshot: Any) -> dict[str, Any]:
    """The ThreadState JSON of a snapshot (values, next, checkpoint, metadata, tasks, interrupts)."""
    return {
        "values": to_json(snapshot.values),
        "next": list(snapshot.next),
        "checkpoint": checkpoint_of(snapshot.config),
        "metadata": to_json(snapshot.metadata or {}),
        "created_at": snapshot.created_at,
        "parent_checkpoint": checkpoint_of(snapshot.parent_config),
        "tasks": [_task(t) for t in snapshot.tasks],
        "interrupts": interrupts_of(snapshot),
    }


def thread_status(snapshot: Any | None, running: bool, errored: bool = False) -> str:
    if running:
        return "busy"
    if errored:
        return "error"
    if snapshot is not None and unfinished(snapshot):
        return "interrupted"
    return "idle"

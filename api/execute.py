"""Run one graph run: translate the request into astream arguments and every chunk into a buffered event.

Event names are the stream modes (`values`, `updates`, `custom`, `debug`, `messages`, ...), suffixed
`|<namespace>` for subgraph events; the first is `metadata` and the last `end` or `error`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from modeldeploy.api.errors import ApiError
from modeldeploy.api.jsonable import to_json
from modeldeploy.api.state_view import interrupts_of
from modeldeploy.graph.run_state import unfinished

if TYPE_CHECKING:
    from modeldeploy.api.graphs import ServedGraph
    from modeldeploy.api.runs import Run

GRAPH_MODE = {"messages-tuple": "messages"}
"""Protocol stream mode -> LangGraph stream mode (the SDK's `messages-tuple` is LangGraph's `messages`)."""


def run_config(run: "Run") -> dict[str, Any]:
    """The RunnableConfig: the request's config, the thread, the checkpoint to start from, run metadata."""
    req = run.request
    config = dict(req.config or {})
    configurable = {k: v for k, v in (config.get("configurable") or {}).items()
                    if k not in ("thread_id", "checkpoint_id", "checkpoint_ns")}
    configurable["thread_id"] = run.thread_id
    if req.checkpoint_ref():
        configurable["checkpoint_id"] = req.checkpoint_ref()
    config["configurable"] = configurable
    config["metadata"] = {**(config.get("metadata") or {}), **(req.metadata or {}), "run_id": run.run_id,
                          "assistant_id": run.assistant_id, "graph_id": run.graph_id}
    config["run_id"] = run.run_id
    return config


def graph_input(run: "Run") -> Any:
    from langgraph.types import Command

    command = run.request.command
    if command is None:
        return run.request.input
    kwargs = {k: v for k, v in (("resume", command.resume), ("update", command.update), ("goto", command.goto))
              if v is not None}
    return Command(**kwargs)


def check_nodes(served: "ServedGraph", names: Any, what: str) -> None:
    if names in (None, "*"):
        return
    unknown = sorted(set(names) - set(served.graph.nodes))
    if unknown:
        raise ApiError(422, f"{what}: unknown node(s) {', '.join(unknown)}")


def _event_name(mode: str, namespace: tuple[str, ...]) -> str:
    mode = "messages" if mode == "messages" else mode
    return mode if not namespace else "|".join((mode, *namespace))


async def execute(run: "Run", served: "ServedGraph", durability: str) -> None:
    """Stream the run into its event log; set its status, result and error. Never raises (but CancelledError)."""
    req = run.request
    graph = served.graph
    modes = list(dict.fromkeys(GRAPH_MODE.get(m, m) for m in req.modes()))
    config = run_config(run)
    kwargs: dict[str, Any] = {"stream_mode": modes, "subgraphs": req.stream_subgraphs, "durability": durability}
    if req.interrupt_before is not None:
        kwargs["interrupt_before"] = req.interrupt_before
    if req.interrupt_after is not None:
        kwargs["interrupt_after"] = req.interrupt_after
    async for item in graph.astream(graph_input(run), config, context=run.context, **kwargs):
        namespace, mode, chunk = item if req.stream_subgraphs else ((), *item)
        if mode == "messages":
            message, meta = chunk
            chunk = [to_json(message), to_json(meta)]
        await run.events.append(_event_name(mode, tuple(namespace)), to_json(chunk))
        await asyncio.sleep(0)  # let readers and other runs in between chunks of a busy graph
    snapshot = await graph.aget_state({"configurable": {"thread_id": run.thread_id}})
    values = to_json(snapshot.values)
    interrupts = interrupts_of(snapshot)
    if interrupts and isinstance(values, dict):
        values["__interrupt__"] = interrupts
    run.result = values
    run.snapshot = snapshot
    run.status = "interrupted" if unfinished(snapshot) else "success"

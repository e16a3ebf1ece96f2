"""Threads: create, get, search, patch, delete; state (current, at a checkpoint, update with as_node); history."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modeldeploy.api.errors import ApiError, not_found
from modeldeploy.api.http import Json, Services, flag, int_param, parse, services
from modeldeploy.api.requests import HistoryQuery, StateAt, StateUpdate, ThreadCreate, ThreadPatch, ThreadSearch
from modeldeploy.api.state_view import checkpoint_of, state_document, thread_status


def served_for(svc: Services, row: dict[str, Any] | None) -> Any:
    """The graph a thread belongs to (its metadata's graph_id; else the first registered graph)."""
    graph_id = ((row or {}).get("metadata") or {}).get("graph_id")
    if graph_id in svc.graphs.by_name:
        return svc.graphs.by_name[graph_id]
    return svc.graphs.all()[0]


async def load_thread(svc: Services, thread_id: str) -> tuple[dict[str, Any] | None, Any]:
    """(row or None, snapshot); 404 when the thread has neither a row nor checkpoints."""
    row = await svc.threads.get(thread_id)
    snapshot = await served_for(svc, row).graph.aget_state({"configurable": {"thread_id": thread_id}})
    if row is None and not snapshot.values and snapshot.config.get("configurable", {}).get("checkpoint_id") is None:
        raise not_found(f"thread {thread_id}")
    return row, snapshot


def thread_document(svc: Services, thread_id: str, row: dict[str, Any] | None, snapshot: Any) -> dict[str, Any]:
    doc = state_document(snapshot)
    running = bool(svc.runs.active(thread_id))
    status = "busy" if running else (row or {}).get("status") or thread_status(snapshot, False)
    if status == "busy" and not running:  # a server stopped while the run was going
        status = thread_status(snapshot, False)
    interrupts: dict[str, list] = {}
    for task in doc["tasks"]:
        if task["interrupts"]:
            interrupts[task["id"]] = task["interrupts"]
    created = (row or {}).get("created_at") or snapshot.created_at
    return {"thread_id": thread_id, "created_at": created, "updated_at": (row or {}).get("updated_at") or created,
            "metadata": (row or {}).get("metadata") or {}, "status": status, "values": doc["values"],
            "interrupts": interrupts}


async def create(request: Request) -> Json:
    svc = services(request)
    body = await parse(request, ThreadCreate, optional=True)
    thread_id = body.thread_id or str(uuid.uuid4())
    existing = await svc.threads.get(thread_id)
    if existing is not None:
        if body.if_exists == "do_nothing":
            return Json(thread_document(svc, thread_id, *(await load_thread(svc, thread_id))))
        raise ApiError(409, f"thread {thread_id} already exists")
    row = await svc.threads.create(thread_id, body.metadata)
    return Json(thread_document(svc, thread_id, *(await load_thread(svc, thread_id))) if row else {})


async def get(request: Request) -> Json:
    svc = services(request)
    thread_id = request.path_params["thread_id"]
    return Json(thread_document(svc, thread_id, *(await load_thread(svc, thread_id))))


async def patch(request: Request) -> Json:
    svc = services(request)
    thread_id = request.path_params["thread_id"]
    body = await parse(request, ThreadPatch)
    if await svc.threads.get(thread_id) is None:
        raise not_found(f"thread {thread_id}")
    await svc.threads.update(thread_id, metadata=body.metadata)
    return Json(thread_document(svc, thread_id, *(await load_thread(svc, thread_id))))


async def delete(request: Request) -> Response:
    svc = services(request)
    thread_id = request.path_params["thread_id"]
    await load_thread(svc, thread_id)
    active = svc.runs.active(thread_id)
    for run in active:
        svc.runs.cancel(run, "the thread was deleted")
    for run in active:
        await run.done.wait()
    await svc.threads.delete(thread_id)
    return Response(status_code=204)


async def search(request: Request) -> Json:
    svc = services(request)
    q = await parse(request, ThreadSearch, optional=True)
    rows = await svc.threads.search(metadata=q.metadata, status=None, ids=q.ids, limit=10**6, offset=0,
                                    sort_order=q.sort_order)
    docs = []
    for row in rows:
        snapshot = await served_for(svc, row).graph.aget_state({"configurable": {"thread_id": row["thread_id"]}})
        doc = thread_document(svc, row["thread_id"], row, snapshot)
        if q.status is None or doc["status"] == q.status:
            docs.append(doc)
    return Json(docs[q.offset:q.offset + q.limit])


async def count(request: Request) -> Json:
    svc = services(request)
    q = await parse(request, ThreadSearch, optional=True)
    return Json(len(await svc.threads.search(metadata=q.metadata, status=None, ids=q.ids, limit=10**6, offset=0)))


def _config(thread_id: str, checkpoint_id: str | None = None, checkpoint_ns: str = "") -> dict[str, Any]:
    configurable: dict[str, Any] = {"thread_id": thread_id}
    if checkpoint_id:
        configurable.update(checkpoint_id=checkpoint_id, checkpoint_ns=checkpoint_ns)
    return {"configurable": configurable}


async def _state_at(request: Request, checkpoint_id: str | None, subgraphs: bool) -> Json:
    svc = services(request)
    thread_id = request.path_params["thread_id"]
    row, snapshot = await load_thread(svc, thread_id)
    if checkpoint_id:
        snapshot = await served_for(svc, row).graph.aget_state(_config(thread_id, checkpoint_id), subgraphs=subgraphs)
        if snapshot.config.get("configurable", {}).get("checkpoint_id") != checkpoint_id:
            raise not_found(f"checkpoint {checkpoint_id} of thread {thread_id}")
    elif subgraphs:
        snapshot = await served_for(svc, row).graph.aget_state(_config(thread_id), subgraphs=True)
    return Json(state_document(snapshot))


async def state(request: Request) -> Json:
    return await _state_at(request, request.path_params.get("checkpoint_id"), flag(request, "subgraphs"))


async def state_at_checkpoint(request: Request) -> Json:
    body = await parse(request, StateAt)
    return await _state_at(request, body.checkpoint.checkpoint_id, body.subgraphs)


async def update_state(request: Request) -> Json:
    from langgraph.errors import InvalidUpdateError

    svc = services(request)
    thread_id = request.path_params["thread_id"]
    body = await parse(request, StateUpdate)
    row, _ = await load_thread(svc, thread_id)
    if svc.runs.active(thread_id):
        raise ApiError(409, f"thread {thread_id} has a run in progress: update its state when it ends")
    served = served_for(svc, row)
    if body.as_node is not None and body.as_node not in served.graph.nodes:
        raise ApiError(422, f"as_node: unknown node {body.as_node!r} (nodes: {', '.join(served.graph.nodes)})")
    checkpoint_id = body.checkpoint_id or (body.checkpoint.checkpoint_id if body.checkpoint else None)
    try:
        config = await served.graph.aupdate_state(_config(thread_id, checkpoint_id), body.values, as_node=body.as_node)
    except (InvalidUpdateError, ValueError, TypeError) as exc:
        raise ApiError(400, f"cannot update the state: {exc}") from None
    await svc.threads.update(thread_id, status=thread_status(await served.graph.aget_state(_config(thread_id)), False))
    return Json({"checkpoint": checkpoint_of(config)})


async def history(request: Request) -> Json:
    svc = services(request)
    thread_id = request.path_params["thread_id"]
    if request.method == "GET":
        q = HistoryQuery(limit=int_param(request, "limit", 10, 1, 1000))
    else:
        q = await parse(request, HistoryQuery, optional=True)
    row, _ = await load_thread(svc, thread_id)
    before = q.before if isinstance(q.before, str) or q.before is None else q.before.checkpoint_id
    config = _config(thread_id, q.checkpoint.checkpoint_id if q.checkpoint else None)
    states = [state_document(s) async for s in served_for(svc, row).graph.aget_state_history(
        config, limit=q.limit, before=_config(thread_id, before) if before else None, filter=q.metadata)]
    return Json(states)


ROUTES = [
    Route("/threads", create, methods=["POST"]),
    Route("/threads/search", search, methods=["POST"]),
    Route("/threads/count", count, methods=["POST"]),
    Route("/threads/{thread_id}", get, methods=["GET"]),
    Route("/threads/{thread_id}", patch, methods=["PATCH"]),
    Route("/threads/{thread_id}", delete, methods=["DELETE"]),
    Route("/threads/{thread_id}/state", state, methods=["GET"]),
    Route("/threads/{thread_id}/state", update_state, methods=["POST"]),
    Route("/threads/{thread_id}/state/checkpoint", state_at_checkpoint, methods=["POST"]),
    Route("/threads/{thread_id}/state/{checkpoint_id}", state, methods=["GET"]),
    Route("/threads/{thread_id}/history", history, methods=["GET", "POST"]),
]

"""Runs: create (background), stream (SSE), wait, join, re-join a stream, cancel, list, get, delete; stateless too."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modeldeploy.api.errors import ApiError, not_found
from modeldeploy.api.http import Json, Services, flag, int_param, parse, services
from modeldeploy.api.requests import STREAM_MODES, RunCreate
from modeldeploy.api.runs import Run
from modeldeploy.api.sse import sse_response


async def _ensure_thread(svc: Services, thread_id: str, req: RunCreate, graph_id: str) -> None:
    row = await svc.threads.get(thread_id)
    if row is None:
        served = svc.graphs.by_name[graph_id]
        snapshot = await served.graph.aget_state({"configurable": {"thread_id": thread_id}})
        has_checkpoints = snapshot.config.get("configurable", {}).get("checkpoint_id") is not None
        if not has_checkpoints and req.if_not_exists != "create":
            raise not_found(f"thread {thread_id} (pass if_not_exists=create to create it)")
        await svc.threads.create(thread_id, {"graph_id": graph_id})
    elif row["metadata"].get("graph_id") not in (None, graph_id):
        raise ApiError(409, f"thread {thread_id} belongs to graph {row['metadata']['graph_id']}, not {graph_id}")
    elif "graph_id" not in row["metadata"]:
        await svc.threads.update(thread_id, metadata={"graph_id": graph_id})


async def _start(request: Request) -> Run:
    svc = services(request)
    req = await parse(request, RunCreate)
    served = svc.graphs.get(req.assistant_id)
    thread_id = request.path_params.get("thread_id")
    if thread_id is not None:
        await _ensure_thread(svc, thread_id, req, served.entry.graph_id)
    return await svc.runs.start(served, req, thread_id)


def _location(run: Run) -> dict[str, str]:
    return {"Content-Location": f"/threads/{run.thread_id}/runs/{run.run_id}"}


async def create(request: Request) -> Json:
    run = await _start(request)
    return Json(run.document(), headers=_location(run))


async def stream(request: Request) -> Response:
    svc = services(request)
    run = await _start(request)
    cancel = (lambda: svc.runs.cancel(run, "the client disconnected (on_disconnect=cancel)")) \
        if run.request.on_disconnect == "cancel" else None
    return sse_response(run.events, heartbeat_s=svc.settings.heartbeat_s, on_disconnect=cancel,
                        location=run.stream_path if run.request.stream_resumable else None)


async def wait(request: Request) -> Json:
    run = await _start(request)
    await asyncio.shield(run.done.wait())
    return Json(run.wait_result(), headers=_location(run))


def _run(request: Request) -> Run:
    return services(request).runs.get(request.path_params.get("thread_id"), request.path_params["run_id"])


async def get(request: Request) -> Json:
    return Json(_run(request).document())


async def list_runs(request: Request) -> Json:
    svc = services(request)
    thread_id = request.path_params["thread_id"]
    if await svc.threads.get(thread_id) is None and not svc.runs.of_thread(thread_id):
        raise not_found(f"thread {thread_id}")
    status = request.query_params.get("status")
    runs = [r.document() for r in reversed(svc.runs.of_thread(thread_id)) if status in (None, r.status)]
    offset, limit = int_param(request, "offset", 0, 0, 10**6), int_param(request, "limit", 10, 1, 1000)
    return Json(runs[offset:offset + limit])


async def join(request: Request) -> Json:
    run = _run(request)
    await asyncio.shield(run.done.wait())
    return Json(run.wait_result())


def _last_event_id(request: Request) -> int:
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id") or "0"
    try:
        return max(0, int(raw))
    except ValueError:
        raise ApiError(422, f"Last-Event-ID must be an event id from this run's stream, got {raw[:40]!r}") from None


def _modes(request: Request) -> set[str] | None:
    modes = [m for m in request.query_params.getlist("stream_mode") if m]
    unknown = sorted(set(modes) - STREAM_MODES)
    if unknown:
        raise ApiError(422, f"unknown stream_mode {', '.join(unknown)} (known: {', '.join(sorted(STREAM_MODES))})")
    return {"messages" if m == "messages-tuple" else m for m in modes} or None


async def join_stream(request: Request) -> Response:
    svc = services(request)
    run = _run(request)
    cancel = (lambda: svc.runs.cancel(run, "the client disconnected (cancel_on_disconnect)")) \
        if flag(request, "cancel_on_disconnect") else None
    return sse_response(run.events, last_id=_last_event_id(request), modes=_modes(request),
                        heartbeat_s=svc.settings.heartbeat_s, location=run.stream_path, on_disconnect=cancel)


async def cancel(request: Request) -> Response:
    svc = services(request)
    run = _run(request)
    action = request.query_params.get("action", "interrupt")
    if action != "interrupt":
        raise ApiError(422, f"action {action!r} is not supported (only interrupt: the run stops, its checkpoints stay)")
    svc.runs.cancel(run)
    if flag(request, "wait"):
        await run.done.wait()
    return Response(status_code=202 if not run.done.is_set() else 200)


async def delete(request: Request) -> Response:
    await services(request).runs.delete(_run(request))
    return Response(status_code=204)


ROUTES = [
    Route("/threads/{thread_id}/runs", create, methods=["POST"]),
    Route("/threads/{thread_id}/runs", list_runs, methods=["GET"]),
    Route("/threads/{thread_id}/runs/stream", stream, methods=["POST"]),
    Route("/threads/{thread_id}/runs/wait", wait, methods=["POST"]),
    Route("/threads/{thread_id}/runs/{run_id}", get, methods=["GET"]),
    Route("/threads/{thread_id}/runs/{run_id}", delete, methods=["DELETE"]),
    Route("/threads/{thread_id}/runs/{run_id}/join", join, methods=["GET"]),
    Route("/threads/{thread_id}/runs/{run_id}/stream", join_stream, methods=["GET"]),
    Route("/threads/{thread_id}/runs/{run_id}/cancel", cancel, methods=["POST"]),
    Route("/runs", create, methods=["POST"]),
    Route("/runs/stream", stream, methods=["POST"]),
    Route("/runs/wait", wait, methods=["POST"]),
]

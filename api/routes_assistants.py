"""Assistants: one per registered graph (search, get, graph drawing with xray, schemas, subgraphs)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from modeldeploy.api.errors import ApiError
from modeldeploy.api.http import Json, parse, services
from modeldeploy.api.requests import AssistantSearch


async def search(request: Request) -> Json:
    q = await parse(request, AssistantSearch, optional=True)
    found = [g.assistant() for g in services(request).graphs.all()
             if (q.graph_id is None or g.entry.graph_id == q.graph_id) and (q.name is None or q.name in g.entry.graph_id)
             and all(g.assistant()["metadata"].get(k) == v for k, v in (q.metadata or {}).items())]
    return Json(found[q.offset:q.offset + q.limit])


async def count(request: Request) -> Json:
    q = await parse(request, AssistantSearch, optional=True)
    return Json(sum(1 for g in services(request).graphs.all() if q.graph_id in (None, g.entry.graph_id)))


async def get(request: Request) -> Json:
    return Json(services(request).graphs.get(request.path_params["assistant_id"]).assistant())


def _xray(request: Request) -> bool | int:
    raw = (request.query_params.get("xray") or "false").strip().lower()
    if raw in ("true", "false"):
        return raw == "true"
    try:
        depth = int(raw)
    except ValueError:
        raise ApiError(422, "xray must be true, false or a depth (integer >= 0)") from None
    if depth < 0:
        raise ApiError(422, "xray must be true, false or a depth (integer >= 0)")
    return depth


async def graph(request: Request) -> Json:
    served = services(request).graphs.get(request.path_params["assistant_id"])
    return Json(served.drawable(_xray(request)))


async def schemas(request: Request) -> Json:
    return Json(services(request).graphs.get(request.path_params["assistant_id"]).schemas())


async def subgraphs(request: Request) -> Json:
    services(request).graphs.get(request.path_params["assistant_id"])
    return Json({})


ROUTES = [
    Route("/assistants/search", search, methods=["POST"]),
    Route("/assistants/count", count, methods=["POST"]),
    Route("/assistants/{assistant_id}", get, methods=["GET"]),
    Route("/assistants/{assistant_id}/graph", graph, methods=["GET"]),
    Route("/assistants/{assistant_id}/schemas", schemas, methods=["GET"]),
    Route("/assistants/{assistant_id}/subgraphs", subgraphs, methods=["GET"]),
]

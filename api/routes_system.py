"""Health and version: `/ok` and `/info` (open, no token)."""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version

from starlette.requests import Request
from starlette.routing import Route

from modeldeploy.api.http import Json, services


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


@functools.cache
def versions() -> dict[str, str | None]:
    """Package versions (reads package metadata from disk: the app calls it once at start-up, off the loop)."""
    return {"version": _version("modeldeploy"), "langgraph_version": _version("langgraph")}


async def ok(_: Request) -> Json:
    return Json({"ok": True})


async def info(request: Request) -> Json:
    svc = services(request)
    return Json({**versions(), "graphs": sorted(svc.graphs.by_name), "auth": bool(svc.settings.tokens),
                 "flags": {"assistants": True, "crons": False, "langsmith": False}})


ROUTES = [Route("/ok", ok, methods=["GET"]), Route("/info", info, methods=["GET"])]

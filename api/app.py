"""The ASGI app: routes, error handlers, bearer auth, and a lifespan that opens the checkpointer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware

from modeldeploy.api import routes_assistants, routes_runs, routes_system, routes_threads
from modeldeploy.api.auth import BearerAuth
from modeldeploy.api.config import ApiSettings
from modeldeploy.api.errors import EXCEPTION_HANDLERS
from modeldeploy.api.graphs import GraphEntry, Graphs
from modeldeploy.api.http import Services
from modeldeploy.api.runs import RunManager
from modeldeploy.api.thread_store import ThreadStore

log = logging.getLogger("modeldeploy.api")


def _migrate_experience_database() -> None:
    """Create/migrate the experience database once, before any run: concurrent runs opening a fresh
    database for the first time would otherwise race on its migrations."""
    from modeldeploy.errors import ModelDeployError
    from modeldeploy.experience_store import open_database

    try:
        open_database().engine.dispose()
    except ModelDeployError as exc:  # runs will report it; the API itself can still serve state and history
        log.warning("experience database: %s", exc)


def create_app(settings: ApiSettings | None = None, graphs: dict[str, GraphEntry] | None = None) -> Starlette:
    """The API app. Settings default from the environment; `graphs` defaults to every registered graph."""
    settings = settings or ApiSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        os.environ.setdefault("LANGGRAPH_STRICT_MSGPACK", "true")
        if settings.checkpoint != ":memory:":
            await asyncio.to_thread(Path(settings.checkpoint).parent.mkdir, parents=True, exist_ok=True)
        async with AsyncSqliteSaver.from_conn_string(settings.checkpoint) as saver:
            threads = ThreadStore(saver)
            await threads.setup()
            runs = RunManager(settings, threads)
            await asyncio.to_thread(routes_system.versions)
            await asyncio.to_thread(_migrate_experience_database)
            served = await asyncio.to_thread(Graphs, saver, graphs)  # imports the graph modules: file I/O
            app.state.services = Services(settings=settings, graphs=served, threads=threads, runs=runs)
            log.info("modeldeploy API ready: checkpoints in %s, auth %s", settings.checkpoint,
                     "on" if settings.tokens else "off (loopback only)")
            try:
                yield
            finally:
                await runs.shutdown()

    routes = [*routes_system.ROUTES, *routes_assistants.ROUTES, *routes_threads.ROUTES, *routes_runs.ROUTES]
    return Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan,
                     middleware=[Middleware(BearerAuth, tokens=settings.tokens)])

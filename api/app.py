"""The ASGI app: routes, error handlers, bearer auth, and a lifespan that opens the checkpointer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any, AsyncIterator

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
from modeldeploy.experience_store import open_database
from modeldeploy.graph.checkpointer import is_postgres, open_checkpointer

log = logging.getLogger("modeldeploy.api")
POSTGRES_POOL = 20  # connections the API's runs share


@contextlib.asynccontextmanager
async def _checkpointer(settings: ApiSettings) -> AsyncIterator[Any]:
    """PostgreSQL: the checkpoints in the one database, through a pool. SQLite: the CLI's checkpoint file."""
    if is_postgres(settings.database_url):
        async with open_checkpointer(settings.database_url, pool_size=POSTGRES_POOL) as saver:
            yield saver
        return
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    if settings.checkpoint != ":memory:":
        await asyncio.to_thread(Path(settings.checkpoint).parent.mkdir, parents=True, exist_ok=True)
    async with AsyncSqliteSaver.from_conn_string(settings.checkpoint) as saver:
        await saver.setup()
        yield saver


def create_app(settings: ApiSettings | None = None, graphs: dict[str, GraphEntry] | None = None) -> Starlette:
    """The API app. Settings default from the environment; `graphs` defaults to every registered graph."""
    settings = settings or ApiSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        os.environ.setdefault("LANGGRAPH_STRICT_MSGPACK", "true")
        # Migrated once here, before any run: concurrent runs would otherwise all open a fresh database at once.
        db = await asyncio.to_thread(open_database, settings.database_url)
        async with _checkpointer(settings) as saver:
            threads = ThreadStore(db, saver)
            runs = RunManager(settings, threads)
            await asyncio.to_thread(routes_system.versions)
            served = await asyncio.to_thread(Graphs, saver, graphs)  # imports the graph modules: file I/O
            app.state.services = Services(settings=settings, graphs=served, threads=threads, runs=runs)
            where = "PostgreSQL" if is_postgres(settings.database_url) else settings.checkpoint
            log.info("modeldeploy API ready: checkpoints in %s, auth %s", where,
                     "on" if settings.tokens else "off (loopback only)")
            try:
                yield
            finally:
                await runs.shutdown()
                await asyncio.to_thread(db.close)

    routes = [*routes_system.ROUTES, *routes_assistants.ROUTES, *routes_threads.ROUTES, *routes_runs.ROUTES]
    return Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan,
                     middleware=[Middleware(BearerAuth, tokens=settings.tokens)])

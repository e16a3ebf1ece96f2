"""The LangGraph checkpointer for the configured database.

One setting (`MODELDEPLOY_DATABASE_URL`, else SQLite under MODELDEPLOY_HOME) chooses where the
experience library, results, the deployment registry and the checkpoints live:
- PostgreSQL (a team): the checkpoints go into the same database, in LangGraph's own tables
  (`AsyncPostgresSaver`, which creates them on first use);
- SQLite (one person): `checkpoints.db` beside the library, a file of its own so that the graph's
  async writer and the library's writers never wait on one file lock.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType

from sqlalchemy.engine import make_url

from modeldeploy import settings


def is_postgres(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


def postgres_conninfo(database_url: str) -> str:
    """A libpq connection string from a SQLAlchemy URL (postgresql+psycopg://... -> postgresql://...)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _imported(module: str) -> ModuleType:
    return await asyncio.to_thread(importlib.import_module, module)


@asynccontextmanager
async def open_checkpointer(database_url: str | None = None, pool_size: int | None = None) -> AsyncIterator[object]:
    """An async checkpointer for `database_url` (default: the configured one), set up and ready.

    `pool_size` (PostgreSQL): a connection pool for a server running many graphs at once, instead
    of the one connection a CLI run needs."""
    url = database_url or settings.database_url()
    if is_postgres(url):
        # imported in a thread: a first import reads package metadata (blocking, refused by langgraph dev)
        AsyncPostgresSaver = (await _imported("langgraph.checkpoint.postgres.aio")).AsyncPostgresSaver
        if pool_size:
            dict_row = (await _imported("psycopg.rows")).dict_row
            AsyncConnectionPool = (await _imported("psycopg_pool")).AsyncConnectionPool

            pool = AsyncConnectionPool(postgres_conninfo(url), min_size=1, max_size=pool_size, open=False,
                                       kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row})
            await pool.open(wait=True, timeout=30)
            try:
                saver = AsyncPostgresSaver(pool)
                await saver.setup()
                yield saver
            finally:
                await pool.close()
            return
        async with AsyncPostgresSaver.from_conn_string(postgres_conninfo(url)) as saver:
            await saver.setup()
            yield saver
        return
    AsyncSqliteSaver = (await _imported("langgraph.checkpoint.sqlite.aio")).AsyncSqliteSaver
    path = settings.checkpoint_path()
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        yield saver


def has_checkpoints(database_url: str | None = None) -> bool:
    """False when there cannot be a checkpoint yet (no SQLite file): callers skip opening one."""
    url = database_url or settings.database_url()
    return is_postgres(url) or settings.checkpoint_path().exists()

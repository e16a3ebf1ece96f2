"""Alembic environment of the experience library.

`modeldeploy.experience_store.db` builds the Alembic config in code and hands
over an open connection in ``config.attributes["connection"]`` (which is what
makes in-memory SQLite work); without one, an engine is made from
``sqlalchemy.url``. Offline mode (``--sql``) renders the DDL for that URL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from modeldeploy.experience_store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    # Batch mode lets later migrations ALTER tables on SQLite (copy-and-move).
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()
elif (connection := config.attributes.get("connection")) is not None:
    _run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()

"""Open the experience library: make the engine, bring the schema to head, hand out sessions.

`open_database()` is cheap enough to call on every CLI start: when the stored
Alembic revision already equals the head, no migration script is executed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from modeldeploy import settings
from modeldeploy.errors import ModelDeployError, UserInputError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class Database:
    """An engine plus a session factory; `session()` commits on success and rolls back on error."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session inside one transaction, committed when the block exits without error."""
        with self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        """Release all pooled connections."""
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_database(url: str | None = None) -> Database:
    """Connect to `url` (default: `settings.database_url()`), migrate it to head, return it."""
    parsed = _parse(url or settings.database_url())
    engine = _create_engine(parsed)
    try:
        _upgrade(engine, parsed)
    except BaseException:
        engine.dispose()
        raise
    return Database(engine)


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise UserInputError(f"not a database URL: {url!r} (expected e.g. sqlite:///path/to/file.db)") from None


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def _create_engine(url: URL) -> Engine:
    is_sqlite = url.get_backend_name() == "sqlite"
    kwargs: dict[str, Any] = {}
    if is_sqlite and _is_memory(url):
        # One shared connection, or every checkout would see a different empty database.
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    elif is_sqlite and url.database and not url.database.startswith("file:"):
        try:
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserInputError(f"cannot create the directory of {url.database}: {exc.strerror}") from None
    try:
        engine = create_engine(url, **kwargs)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise UserInputError(f"unsupported database URL {_safe(url)}: {_first_line(exc)}") from None
    if is_sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (CLI) do not block the writer (agent)
    cursor.close()


def _upgrade(engine: Engine, url: URL) -> None:
    # alembic is imported here, not at the top: it costs ~0.3 s, and CLI commands that never open
    # the database (`--help`, `plan`) should not pay it
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%"))
    head = ScriptDirectory.from_config(config).get_current_head()
    try:
        with _one_migrator(url), engine.begin() as connection:
            if url.get_backend_name() == "postgresql":  # held until this transaction (DDL included) commits
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            if MigrationContext.configure(connection).get_current_revision() == head:
                return
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except DatabaseError as exc:
        raise UserInputError(f"cannot open database {_safe(url)}: {_first_line(exc.orig or exc)}") from None
    except CommandError as exc:
        raise ModelDeployError(f"cannot migrate database {_safe(url)}: {_first_line(exc)}") from None


MIGRATION_LOCK_KEY = 0x6D6F64656C  # "model": the PostgreSQL advisory lock of our migrations


def _one_migrator(url: URL) -> Any:
    """Processes opening a fresh SQLite file at once would all try to create the tables: one at a time.

    (PostgreSQL serialises them with an advisory lock inside the migration's transaction.)"""
    if url.get_backend_name() != "sqlite" or _is_memory(url) or not url.database or url.database.startswith("file:"):
        return nullcontext()
    from filelock import FileLock

    return FileLock(str(Path(url.database).expanduser()) + ".migrate.lock", timeout=300)


def _safe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]

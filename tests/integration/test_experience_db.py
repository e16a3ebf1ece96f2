"""The experience library's database: migrations, SQLite settings, URLs and the PostgreSQL DDL."""

from __future__ import annotations

import io
from datetime import UTC
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from modeldeploy.errors import UserInputError
from modeldeploy.experience_store import add_lesson, list_lessons, open_database, record_event, record_run
from modeldeploy.experience_store.db import MIGRATIONS_DIR
from modeldeploy.experience_store.models import Base, Run

TABLES = {"run", "failure_signature", "lesson", "lesson_event", "deployment"}


def _head() -> str:
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


HEAD = _head()


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def test_open_database_creates_the_parent_directory_and_all_tables(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "experience.db"
    with open_database(_url(path)) as db:
        assert path.is_file()
        assert TABLES <= set(inspect(db.engine).get_table_names())
        with db.engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == HEAD


def test_open_database_twice_keeps_data_and_a_single_revision(db_url: str) -> None:
    url = db_url
    with open_database(url) as db:
        assert TABLES <= set(inspect(db.engine).get_table_names())
        add_lesson(db, kind="rule", text="Use --ipc=host for NCCL.")
    with open_database(url) as db:
        assert [lesson.text for lesson in list_lessons(db)] == ["Use --ipc=host for NCCL."]
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]


def test_migration_matches_the_models(db_url: str) -> None:
    with open_database(db_url) as db, db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_in_memory_sqlite_shares_one_migrated_database() -> None:
    with open_database("sqlite://") as db:
        add_lesson(db, kind="fix", text="Lower max_model_len.", fix={"max_model_len": 8192})
        assert [lesson.fix for lesson in list_lessons(db)] == [{"max_model_len": 8192}]


def test_sqlite_uses_wal_and_enforces_foreign_keys(tmp_path: Path) -> None:
    with open_database(_url(tmp_path / "experience.db")) as db:
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        lesson = add_lesson(db, kind="rule", text="Pin the image digest.")
        with pytest.raises(IntegrityError):
            record_event(db, lesson.id, "applied", run_id=999)


def test_timestamps_come_back_timezone_aware_utc(tmp_path: Path) -> None:
    with open_database(_url(tmp_path / "experience.db")) as db:
        run_id = record_run(db, model_id="Qwen/Qwen2.5-7B-Instruct", outcome="success")
        with db.session() as session:
            created_at = session.scalars(select(Run.created_at).where(Run.id == run_id)).one()
        assert created_at.tzinfo == UTC


def test_default_url_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELDEPLOY_DATABASE_URL", raising=False)
    monkeypatch.setenv("MODELDEPLOY_HOME", str(tmp_path / "home"))
    open_database().close()
    assert (tmp_path / "home" / "modeldeploy.db").is_file()

    monkeypatch.setenv("MODELDEPLOY_DATABASE_URL", _url(tmp_path / "team.db"))
    open_database().close()
    assert (tmp_path / "team.db").is_file()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param("not a url", "not a database URL", id="not-a-url"),
        pytest.param("nosuchdb://host/db", "unsupported database URL", id="unknown-dialect"),
        pytest.param("GARBAGE_FILE", "cannot open database", id="file-is-not-a-database"),
    ],
)
def test_bad_url_is_a_one_line_user_input_error(tmp_path: Path, url: str, message: str) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UserInputError, match=message) as raised:
        open_database(url.replace("GARBAGE_FILE", _url(garbage)))
    assert "\n" not in str(raised.value)


def test_migration_renders_postgresql_ddl_offline() -> None:
    output = io.StringIO()
    config = Config(output_buffer=output)
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", "postgresql://user@localhost/modeldeploy")
    command.upgrade(config, "head", sql=True)
    ddl = output.getvalue()
    for table in TABLES:
        assert f"CREATE TABLE {table} (" in ddl
    assert "TIMESTAMP WITH TIME ZONE" in ddl
    assert "config JSON" in ddl
    assert "CONSTRAINT uq_lesson_natural_key UNIQUE (natural_key)" in ddl


def _open_and_count(url: str) -> int:
    with open_database(url) as db:
        return len(list_lessons(db))


def test_many_processes_opening_a_fresh_database_at_once_all_succeed(db_url: str) -> None:
    """Twenty deployments starting together each open (and so migrate) the same new database."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(_open_and_count, [db_url] * 16)) == [0] * 16
    with open_database(db_url) as db, db.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]

"""A fresh, empty database per test on either backend: a SQLite file, or a PostgreSQL database.

PostgreSQL comes from scripts/ci/postgres_up.sh (.ci/run starts it and exports
MODELDEPLOY_TEST_POSTGRES_URL, an admin URL); each test gets a database of its own, created
here and dropped afterwards (WITH (FORCE): connections a failed test left open do not block it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

BACKENDS = ("sqlite", "postgresql")
POSTGRES_ENV = "MODELDEPLOY_TEST_POSTGRES_URL"


def postgres_admin_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.fail(f"{POSTGRES_ENV} is unset: run scripts/ci/postgres_up.sh and source "
                    "/var/tmp/modeldeploy-ci/env.postgres (the tests run on SQLite and PostgreSQL)", pytrace=False)
    return url


@contextmanager
def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """The SQLAlchemy URL of a new, empty database."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / f'db-{uuid.uuid4().hex[:8]}.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = make_url(postgres_admin_url())
    name = f"md_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin.set(database=name).render_as_string(hide_password=False)
        finally:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()

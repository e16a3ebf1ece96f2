"""Where modeldeploy keeps its files and which database it talks to.

Everything is overridable by environment so that tests and teams can point it
elsewhere: ``MODELDEPLOY_HOME`` (default ``~/.modeldeploy``) and
``MODELDEPLOY_DATABASE_URL`` (default a SQLite file under the home).
"""

from __future__ import annotations

import os
from pathlib import Path


def home_dir() -> Path:
    """The directory for databases, logs and downloads (created on demand by callers)."""
    return Path(os.environ.get("MODELDEPLOY_HOME") or Path.home() / ".modeldeploy").expanduser()


def database_url() -> str:
    """The SQLAlchemy URL of the experience library and results."""
    url = os.environ.get("MODELDEPLOY_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{home_dir() / 'modeldeploy.db'}"


def checkpoint_path() -> Path:
    """The SQLite file of the LangGraph checkpointer used by the CLI."""
    return home_dir() / "checkpoints.db"

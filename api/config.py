"""Settings of the HTTP API, read from the environment (flags of `python server.py` override host and port)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from modeldeploy import settings
from modeldeploy.errors import UserInputError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8123


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise UserInputError(f"{name}={raw!r}: expected a number of seconds") from None


def checkpoint_location(url: str | None = None) -> str:
    """The SQLite file (or ':memory:') of the checkpointer: MODELDEPLOY_CHECKPOINT_URL, else the CLI's file.

    Accepted: a path, `sqlite:///path`, or `sqlite://:memory:`. Sharing the CLI's file means a deployment
    started with `modeldeploy deploy` can be inspected and resumed through the API, and the other way round.
    """
    url = url if url is not None else os.environ.get("MODELDEPLOY_CHECKPOINT_URL")
    if not url:
        return str(settings.checkpoint_path())
    if url in (":memory:", "sqlite://:memory:", "sqlite:///:memory:"):
        return ":memory:"
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///") - 1:] if url.startswith("sqlite:////") else url[len("sqlite:///"):]
    if "://" in url:
        raise UserInputError(f"MODELDEPLOY_CHECKPOINT_URL={url!r}: only SQLite is supported (a path or sqlite:///path)")
    return url


def load_tokens() -> tuple[str, ...]:
    """Bearer tokens from MODELDEPLOY_API_TOKENS (comma-separated) and MODELDEPLOY_API_TOKENS_FILE (one a line)."""
    tokens = [t.strip() for t in os.environ.get("MODELDEPLOY_API_TOKENS", "").split(",")]
    path = os.environ.get("MODELDEPLOY_API_TOKENS_FILE")
    if path:
        try:
            text = Path(path).expanduser().read_text()
        except OSError as exc:
            raise UserInputError(f"MODELDEPLOY_API_TOKENS_FILE: cannot read {path}: {exc.strerror}") from None
        tokens += [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return tuple(dict.fromkeys(t for t in tokens if t))


@dataclass(kw_only=True)
class ApiSettings:
    """What the API needs to start; every field defaults from the environment."""

    tokens: tuple[str, ...] = field(default_factory=load_tokens)
    """Accepted bearer tokens; empty means no authentication (allowed on loopback only)."""
    database_url: str = field(default_factory=settings.database_url)
    """The one database (MODELDEPLOY_DATABASE_URL): the API's threads, and the checkpoints when it is PostgreSQL."""
    checkpoint: str = field(default_factory=checkpoint_location)
    """SQLite file of the LangGraph checkpointer when the database is SQLite (':memory:' for tests)."""
    heartbeat_s: float = field(default_factory=lambda: _float_env("MODELDEPLOY_API_HEARTBEAT_S", 10.0))
    """Seconds between SSE heartbeat comments while a run is quiet."""
    max_events_per_run: int = 20000
    """Events buffered per run for re-joining clients (oldest dropped past it)."""
    max_finished_runs: int = 1000
    """Finished runs kept in memory (their events and status); older ones are forgotten."""
    default_durability: str = "sync"
    """Checkpoint durability of runs that do not ask (the CLI's: a crash loses no finished step)."""

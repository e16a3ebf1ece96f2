"""Threads the HTTP API created (id, metadata, status), in the same database as everything else.

The checkpoints themselves belong to the LangGraph checkpointer; a thread only the CLI wrote has
checkpoints and no row here, and the API still serves its state and history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from modeldeploy.experience_store.models import Base, JSONValue, UTCDateTime, utcnow


class ApiThread(Base):
    """One thread of the LangGraph server protocol."""

    __tablename__ = "api_thread"
    __table_args__ = (Index("ix_api_thread_created", "created_at"),)

    thread_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONValue, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="idle")

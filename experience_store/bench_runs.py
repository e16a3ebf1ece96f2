"""Benchmark results by deployment: one row per `modeldeploy bench` document (schema in docs/benchmarking.md).

The whole document is kept as JSON; the columns are what a listing or a comparison filters on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from modeldeploy.experience_store.models import Base, JSONValue, UTCDateTime, utcnow


class BenchRun(Base):
    """One benchmark of one deployment (or of a bare endpoint, keyed by its URL)."""

    __tablename__ = "bench_run"
    __table_args__ = (Index("ix_bench_run_deployment_created", "deployment", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment: Mapped[str] = mapped_column(String(255))
    endpoint: Mapped[str] = mapped_column(String(255))
    model: Mapped[str] = mapped_column(String(255))
    schema_version: Mapped[int] = mapped_column(Integer)
    valid: Mapped[int] = mapped_column(Integer, doc="1 when every run of the document was valid")
    document: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

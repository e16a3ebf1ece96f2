"""Evaluation results by deployment: one row per `modeldeploy eval` summary (fields in docs/evaluation.md).

The whole EvalSummary is kept as JSON; the columns are what a listing, a filter or a comparison reads. Rows
of a bare endpoint (no deployment name) are keyed by its URL in `deployment`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from modeldeploy.experience_store.models import Base, JSONValue, UTCDateTime, utcnow


class EvalRun(Base):
    """One evaluation of one deployment (or of a bare endpoint) on one suite."""

    __tablename__ = "eval_run"
    __table_args__ = (Index("ix_eval_run_deployment_suite_created", "deployment", "suite", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment: Mapped[str] = mapped_column(String(255), doc="The deployment name, or the endpoint when none")
    endpoint: Mapped[str] = mapped_column(String(255))
    model: Mapped[str] = mapped_column(String(255))
    suite: Mapped[str] = mapped_column(String(255))
    n: Mapped[int] = mapped_column(Integer)
    score_official: Mapped[float] = mapped_column(Float)
    score_strict: Mapped[float] = mapped_column(Float)
    unparsed_rate: Mapped[float] = mapped_column(Float)
    truncated_rate: Mapped[float] = mapped_column(Float)
    ci95_low: Mapped[float] = mapped_column(Float)
    ci95_high: Mapped[float] = mapped_column(Float)
    dataset_sha256: Mapped[str] = mapped_column(String(64))
    template_sha256: Mapped[str] = mapped_column(String(64))
    summary: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    results_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

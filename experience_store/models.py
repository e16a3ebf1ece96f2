"""SQLAlchemy models of the experience library: runs, failure signatures, lessons, lesson events.

The schema is portable between SQLite and PostgreSQL: JSON columns use
``sqlalchemy.JSON`` and timestamps are stored timezone-aware and always come
back as UTC (SQLite drops the offset, `UTCDateTime` puts it back).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

LESSON_KINDS = ("fix", "rule", "anti-pattern")
LESSON_STATUSES = ("candidate", "active", "retired")
LESSON_SOURCES = ("agent", "human")
LESSON_ORIGINS = ("human", "agent", "log")
LESSON_EVENTS = ("retrieved", "applied", "helped", "hurt")
RUN_OUTCOMES = ("success", "failure", "aborted")

# Deterministic constraint names, so that migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp that is stored and returned in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Python None is stored as SQL NULL rather than the JSON literal `null`.
JSONValue = JSON(none_as_null=True)


class Base(DeclarativeBase):
    """Declarative base carrying the shared metadata and naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class FailureSignature(Base):
    """A distinct startup/runtime failure, keyed by the hash of its masked decisive error line."""

    __tablename__ = "failure_signature"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    template: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(64))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    count: Mapped[int] = mapped_column(Integer, default=1)


class Run(Base):
    """One deployment attempt chain: what was deployed where, how, and how it ended."""

    __tablename__ = "run"
    __table_args__ = (Index("ix_run_model_id_hardware_fingerprint", "model_id", "hardware_fingerprint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    model_id: Mapped[str] = mapped_column(String(255))
    family: Mapped[str | None] = mapped_column(String(64))
    architecture: Mapped[str | None] = mapped_column(String(128))
    params: Mapped[int | None] = mapped_column(BigInteger)
    quantization: Mapped[str | None] = mapped_column(String(64))
    gpu_model: Mapped[str | None] = mapped_column(String(128))
    gpu_count: Mapped[int | None] = mapped_column(Integer)
    gpu_vram_mib: Mapped[int | None] = mapped_column(Integer)
    driver_version: Mapped[str | None] = mapped_column(String(64))
    cuda_version: Mapped[str | None] = mapped_column(String(64))
    hardware_fingerprint: Mapped[str | None] = mapped_column(String(128), index=True)
    framework: Mapped[str | None] = mapped_column(String(64))
    framework_version: Mapped[str | None] = mapped_column(String(64))
    image: Mapped[str | None] = mapped_column(String(512))
    config: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    outcome: Mapped[str] = mapped_column(String(16))
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    log_digest: Mapped[str | None] = mapped_column(Text)
    failure_signature_id: Mapped[int | None] = mapped_column(
        ForeignKey("failure_signature.id", ondelete="SET NULL"), index=True
    )
    deployment_name: Mapped[str | None] = mapped_column(String(255))


class Lesson(Base):
    """Advice learned from runs or given by a human, valid within its scope (NULL scope = any)."""

    __tablename__ = "lesson"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    signature_id: Mapped[int | None] = mapped_column(
        ForeignKey("failure_signature.id", ondelete="SET NULL"), index=True
    )
    family: Mapped[str | None] = mapped_column(String(64))
    framework: Mapped[str | None] = mapped_column(String(64))
    framework_min_version: Mapped[str | None] = mapped_column(String(64))
    framework_max_version: Mapped[str | None] = mapped_column(String(64))
    gpu_arch: Mapped[str | None] = mapped_column(String(64))
    min_vram_mib: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    fix: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    strength: Mapped[int] = mapped_column(Integer, default=1)
    support_count: Mapped[int] = mapped_column(Integer, default=0)
    contradict_count: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), index=True)
    source: Mapped[str] = mapped_column(String(16))
    origin: Mapped[str] = mapped_column(String(16))
    evidence_run_ids: Mapped[list[int]] = mapped_column(JSONValue, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_validated: Mapped[datetime | None] = mapped_column(UTCDateTime)
    natural_key: Mapped[str] = mapped_column(String(64), unique=True)


class LessonEvent(Base):
    """One thing that happened to a lesson in a run: retrieved, applied, helped or hurt."""

    __tablename__ = "lesson_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lesson.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id", ondelete="SET NULL"), index=True)
    event: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)


DEPLOYMENT_STATUSES = ("ready", "failed", "rejected", "removed")


class Deployment(Base):
    """One named endpoint modeldeploy started: where it is, what it serves, whether it is live."""

    __tablename__ = "deployment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    model_id: Mapped[str] = mapped_column(String(255))
    served_model_name: Mapped[str] = mapped_column(String(255))
    framework: Mapped[str] = mapped_column(String(64))
    image: Mapped[str | None] = mapped_column(String(512))
    runtime: Mapped[str] = mapped_column(String(16))
    endpoint: Mapped[str | None] = mapped_column(String(255))
    container_id: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), index=True)
    thread_id: Mapped[str | None] = mapped_column(String(128))
    config: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

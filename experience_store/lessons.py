"""Curate lessons: add, list, export/import, record what happened to them, strengthen or weaken them.

Write rules (DESIGN.md section 5): a human lesson is active at once; an agent
lesson starts as a candidate and becomes active after `ACTIVATION_SUPPORT`
successful applications; every failure weakens it and at strength 0 it is
retired. A lesson whose text came from logs (``origin="log"``) never becomes
active by itself, only through `promote_lesson` (memory poisoning guard).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from packaging.version import InvalidVersion, Version
from sqlalchemy import select
from sqlalchemy.orm import Session

from modeldeploy.errors import UserInputError
from modeldeploy.experience_store.db import Database
from modeldeploy.experience_store.models import (
    LESSON_EVENTS,
    LESSON_KINDS,
    LESSON_ORIGINS,
    LESSON_SOURCES,
    LESSON_STATUSES,
    FailureSignature,
    Lesson,
    LessonEvent,
    utcnow,
)

MAX_TEXT_CHARS = 800
ACTIVATION_SUPPORT = 2
SCOPE_FIELDS = ("family", "framework", "framework_min_version", "framework_max_version", "gpu_arch", "min_vram_mib")
_COUNTERS = {"strength": 1, "support_count": 0, "contradict_count": 0}  # importable counters and their defaults


def add_lesson(
    db: Database,
    *,
    kind: str,
    text: str,
    family: str | None = None,
    framework: str | None = None,
    framework_min_version: str | None = None,
    framework_max_version: str | None = None,
    gpu_arch: str | None = None,
    min_vram_mib: int | None = None,
    fix: dict[str, Any] | None = None,
    source: str = "human",
    origin: str | None = None,
    signature_hash: str | None = None,
    evidence_run_ids: list[int] | None = None,
) -> Lesson:
    """Add a lesson, or return the existing one with the same kind, text and scope (merging evidence)."""
    values = _validated(
        {
            "kind": kind,
            "text": text,
            "family": family,
            "framework": framework,
            "framework_min_version": framework_min_version,
            "framework_max_version": framework_max_version,
            "gpu_arch": gpu_arch,
            "min_vram_mib": min_vram_mib,
            "fix": fix,
            "source": source,
            "origin": origin,
        }
    )
    evidence = _run_ids(evidence_run_ids or [])
    with db.session() as session:
        existing = _by_key(session, values["natural_key"])
        if existing is not None:
            existing.evidence_run_ids = _merge(existing.evidence_run_ids, evidence)
            return existing
        signature_id = None
        if signature_hash is not None:
            signature = _signature(session, signature_hash)
            if signature is None:
                raise UserInputError(f"unknown failure signature {signature_hash!r}")
            signature_id = signature.id
        lesson = Lesson(**values, signature_id=signature_id, evidence_run_ids=evidence, status=_initial_status(values))
        session.add(lesson)
        session.flush()
        return lesson


def list_lessons(db: Database, status: str | None = None) -> list[Lesson]:
    """All lessons (or those with `status`), oldest first."""
    if status is not None and status not in LESSON_STATUSES:
        raise UserInputError(f"unknown lesson status {status!r} (expected one of {', '.join(LESSON_STATUSES)})")
    query = select(Lesson).order_by(Lesson.id)
    if status is not None:
        query = query.where(Lesson.status == status)
    with db.session() as session:
        return list(session.scalars(query))


def lesson_to_dict(lesson: Lesson) -> dict[str, Any]:
    """A JSON-able view of one lesson, including its id (for `list --json`)."""
    record = _record(lesson, None)
    del record["signature"]
    return {"id": lesson.id, **record, "signature_id": lesson.signature_id}


def export_lessons(db: Database) -> list[dict[str, Any]]:
    """Every lesson as a JSON-able record (no database ids), in creation order."""
    query = (
        select(Lesson, FailureSignature)
        .outerjoin(FailureSignature, Lesson.signature_id == FailureSignature.id)
        .order_by(Lesson.created_at, Lesson.natural_key)
    )
    with db.session() as session:
        return [_record(lesson, signature) for lesson, signature in session.execute(query)]


def import_lessons(db: Database, records: list[Mapping[str, Any]]) -> tuple[int, int]:
    """Import exported records; lessons already present (same natural key) are skipped. Returns (added, skipped)."""
    if not isinstance(records, list):
        raise UserInputError("lesson import expects a JSON list of lesson records")
    prepared = [_prepared_import(index, record) for index, record in enumerate(records)]  # validate all first
    added = skipped = 0
    with db.session() as session:
        for values, signature in prepared:
            if _by_key(session, values["natural_key"]) is not None:
                skipped += 1
                continue
            if signature is not None:
                values["signature_id"] = _ensure_signature(session, signature).id
            session.add(Lesson(**values))
            session.flush()  # so a duplicate later in the same file is found by `_by_key`
            added += 1
    return added, skipped


def record_event(
    db: Database, lesson_id: int, event: str, run_id: int | None = None, detail: dict[str, Any] | None = None
) -> LessonEvent:
    """Append one retrieved/applied/helped/hurt event to a lesson's trail."""
    with db.session() as session:
        _get(session, lesson_id)
        return _add_event(session, lesson_id, event, run_id, detail)


def apply_outcome(db: Database, lesson_id: int, helped: bool, run_id: int | None = None) -> Lesson:
    """Strengthen a lesson that helped a run, weaken (and maybe retire) one that hurt."""
    with db.session() as session:
        lesson = _get(session, lesson_id)
        if helped:
            lesson.strength += 1
            lesson.support_count += 1
            if run_id is not None:
                lesson.evidence_run_ids = _merge(lesson.evidence_run_ids, [run_id])
            if lesson.status == "candidate" and lesson.support_count >= ACTIVATION_SUPPORT and lesson.origin != "log":
                lesson.status = "active"
        else:
            lesson.strength -= 1
            lesson.contradict_count += 1
            if lesson.strength <= 0:
                lesson.status = "retired"
        lesson.last_validated = utcnow()
        _add_event(session, lesson_id, "helped" if helped else "hurt", run_id, None)
        return lesson


def promote_lesson(db: Database, lesson_id: int) -> Lesson:
    """A human vouches for a lesson: it becomes active whatever its origin or past strength."""
    with db.session() as session:
        lesson = _get(session, lesson_id)
        lesson.status = "active"
        lesson.strength = max(lesson.strength, 1)
        lesson.last_validated = utcnow()
        return lesson


def natural_key(values: Mapping[str, Any]) -> str:
    """sha256 of kind, text and scope: the identity of a lesson across libraries."""
    payload = {name: values.get(name) for name in ("kind", "text", *SCOPE_FIELDS)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _initial_status(values: Mapping[str, Any]) -> str:
    return "active" if values["source"] == "human" and values["origin"] != "log" else "candidate"


def _validated(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Check and normalise the fields a person or the agent supplies; add the natural key."""
    kind, source = raw.get("kind"), raw.get("source") or "human"
    if kind not in LESSON_KINDS:
        raise UserInputError(f"unknown lesson kind {kind!r} (expected one of {', '.join(LESSON_KINDS)})")
    if source not in LESSON_SOURCES:
        raise UserInputError(f"unknown lesson source {source!r} (expected one of {', '.join(LESSON_SOURCES)})")
    origin = raw.get("origin") or source
    if origin not in LESSON_ORIGINS:
        raise UserInputError(f"unknown lesson origin {origin!r} (expected one of {', '.join(LESSON_ORIGINS)})")
    text = " ".join(str(raw.get("text") or "").split())
    if not text:
        raise UserInputError("lesson text is empty")
    if len(text) > MAX_TEXT_CHARS:
        text = text[: MAX_TEXT_CHARS - 1] + "…"
    values: dict[str, Any] = {"kind": kind, "text": text, "source": source, "origin": origin}
    for name in ("family", "framework", "gpu_arch"):
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            raise UserInputError(f"lesson {name} must be a string, got {value!r}")
        values[name] = (value or "").strip().lower() or None
    for name in ("framework_min_version", "framework_max_version"):
        values[name] = _version(name, raw.get(name))
    low, high = values["framework_min_version"], values["framework_max_version"]
    if low and high and Version(low) > Version(high):
        raise UserInputError(f"framework_min_version {low} is above framework_max_version {high}")
    vram = raw.get("min_vram_mib")
    if vram is not None and (isinstance(vram, bool) or not isinstance(vram, int) or vram < 0):
        raise UserInputError(f"min_vram_mib must be a non-negative integer, got {vram!r}")
    values["min_vram_mib"] = vram
    values["fix"] = _fix(raw.get("fix"))
    values["natural_key"] = natural_key(values)
    return values


def _version(name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    try:
        return str(Version(str(value)))
    except InvalidVersion:
        raise UserInputError(f"{name} {value!r} is not a version number") from None


def _fix(fix: Any) -> dict[str, Any] | None:
    if fix is None:
        return None
    if not isinstance(fix, dict) or not all(isinstance(key, str) for key in fix):
        raise UserInputError(f"lesson fix must be a JSON object of slot changes, got {fix!r}")
    try:
        json.dumps(fix)
    except (TypeError, ValueError):
        raise UserInputError(f"lesson fix is not JSON-serialisable: {fix!r}") from None
    return fix


def _run_ids(ids: Any) -> list[int]:
    if not isinstance(ids, list) or any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        raise UserInputError(f"evidence_run_ids must be a list of integers, got {ids!r}")
    return sorted(set(ids))


def _merge(current: list[int] | None, new: list[int]) -> list[int]:
    return sorted(set(current or []) | set(new))  # a new list, so the JSON column is marked dirty


def _record(lesson: Lesson, signature: FailureSignature | None) -> dict[str, Any]:
    return {
        "kind": lesson.kind,
        "text": lesson.text,
        **{name: getattr(lesson, name) for name in SCOPE_FIELDS},
        "fix": lesson.fix,
        "signature": (
            None
            if signature is None
            else {"hash": signature.hash, "template": signature.template, "category": signature.category}
        ),
        "strength": lesson.strength,
        "support_count": lesson.support_count,
        "contradict_count": lesson.contradict_count,
        "status": lesson.status,
        "source": lesson.source,
        "origin": lesson.origin,
        "evidence_run_ids": list(lesson.evidence_run_ids or []),
        "created_at": lesson.created_at.isoformat(),
        "last_validated": lesson.last_validated.isoformat() if lesson.last_validated else None,
    }


def _prepared_import(index: int, record: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Validate one exported record into Lesson column values plus its signature, if any."""
    try:
        if not isinstance(record, Mapping):
            raise UserInputError("not a JSON object")
        values = _validated(record)
        status = record.get("status") or _initial_status(values)
        if status not in LESSON_STATUSES:
            raise UserInputError(f"unknown lesson status {status!r}")
        counters = {name: record.get(name, default) for name, default in _COUNTERS.items()}
        for name, value in counters.items():
            if isinstance(value, bool) or not isinstance(value, int):
                raise UserInputError(f"{name} must be an integer, got {value!r}")
        signature = record.get("signature")
        if signature is not None and not (
            isinstance(signature, Mapping) and isinstance(signature.get("hash"), str) and signature.get("template")
        ):
            raise UserInputError("signature must be an object with hash and template")
        values.update(
            counters,
            status=status,
            evidence_run_ids=_run_ids(record.get("evidence_run_ids") or []),
            created_at=_timestamp(record.get("created_at")) or utcnow(),
            last_validated=_timestamp(record.get("last_validated")),
        )
        return values, signature
    except UserInputError as exc:
        raise UserInputError(f"lesson record {index}: {exc}") from None


def _timestamp(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise UserInputError(f"{value!r} is not an ISO 8601 timestamp") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _ensure_signature(session: Session, signature: Mapping[str, Any]) -> FailureSignature:
    """The signature with this hash; created (never seen here: count 0) when missing."""
    existing = _signature(session, signature["hash"])
    if existing is not None:
        return existing
    created = FailureSignature(
        hash=signature["hash"], template=str(signature["template"]), category=signature.get("category"), count=0
    )
    session.add(created)
    session.flush()
    return created


def _add_event(
    session: Session, lesson_id: int, event: str, run_id: int | None, detail: dict[str, Any] | None
) -> LessonEvent:
    if event not in LESSON_EVENTS:
        raise UserInputError(f"unknown lesson event {event!r} (expected one of {', '.join(LESSON_EVENTS)})")
    row = LessonEvent(lesson_id=lesson_id, run_id=run_id, event=event, detail=detail)
    session.add(row)
    session.flush()
    return row


def _get(session: Session, lesson_id: int) -> Lesson:
    lesson = session.get(Lesson, lesson_id)
    if lesson is None:
        raise UserInputError(f"no lesson with id {lesson_id}")
    return lesson


def _by_key(session: Session, key: str) -> Lesson | None:
    return session.scalars(select(Lesson).where(Lesson.natural_key == key)).one_or_none()


def _signature(session: Session, hash: str) -> FailureSignature | None:
    return session.scalars(select(FailureSignature).where(FailureSignature.hash == hash)).one_or_none()

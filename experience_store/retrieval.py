"""Find the lessons worth showing for a deployment, and a verified recipe that makes advice unnecessary.

Lessons are filtered by scope in SQL (a NULL scope column matches anything),
then the exact failure-signature match comes first and the rest are ranked by
BM25 over their text against the query, weighted by strength, recency and
status. The result is small on purpose: at most `limit` lessons within about
`token_budget` tokens, each marked advisory with its evidence count.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from packaging.version import InvalidVersion, Version
from sqlalchemy import ColumnElement, or_, select

from modeldeploy.experience_store.db import Database
from modeldeploy.experience_store.models import FailureSignature, Lesson, LessonEvent, Run, utcnow

RETRIEVABLE_STATUSES = ("active", "candidate")
RECENCY_HALF_LIFE_DAYS = 90.0


@dataclass(frozen=True)
class LessonScope:
    """What is being deployed where. A field left None is unknown and does not filter lessons."""

    family: str | None = None
    framework: str | None = None
    framework_version: str | None = None
    gpu_arch: str | None = None
    vram_mib: int | None = None


@dataclass(frozen=True)
class RetrievedLesson:
    """A lesson as handed to a planner or prompt: advice, never an order."""

    id: int
    kind: str
    text: str
    fix: dict[str, Any] | None
    status: str
    strength: int
    evidence_count: int
    signature_match: bool = False
    advisory: bool = True

    def render(self) -> str:
        """One compact line for a prompt, e.g. ``[lesson 12, active, evidence 3] text (fix: {...})``."""
        fix = f" (fix: {json.dumps(self.fix)})" if self.fix else ""
        return f"[lesson {self.id}, {self.status}, evidence {self.evidence_count}] {self.text}{fix}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able view, for `--json` output and audit trails."""
        return asdict(self)


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: about four characters per token."""
    return math.ceil(len(text) / 4)


def retrieve_lessons(
    db: Database,
    scope: LessonScope,
    query: str = "",
    signature_hash: str | None = None,
    limit: int = 5,
    token_budget: int = 600,
    run_id: int | None = None,
) -> list[RetrievedLesson]:
    """The best lessons for `scope`, ranked; with `run_id`, a `retrieved` event is recorded for each."""
    statement = (
        select(Lesson, FailureSignature.hash)
        .outerjoin(FailureSignature, Lesson.signature_id == FailureSignature.id)
        .where(Lesson.status.in_(RETRIEVABLE_STATUSES), *_scope_filters(scope))
    )
    with db.session() as session:
        rows = [
            (lesson, sig_hash)
            for lesson, sig_hash in session.execute(statement)
            if _version_in_range(lesson, scope.framework_version)
        ]
        chosen: list[RetrievedLesson] = []
        used = 0
        for lesson, sig_hash in _ranked(rows, query, signature_hash):
            if len(chosen) >= limit:
                break
            candidate = RetrievedLesson(
                id=lesson.id,
                kind=lesson.kind,
                text=lesson.text,
                fix=lesson.fix,
                status=lesson.status,
                strength=lesson.strength,
                evidence_count=len(lesson.evidence_run_ids or []),
                signature_match=signature_hash is not None and sig_hash == signature_hash,
            )
            cost = estimate_tokens(candidate.render())
            if used + cost > token_budget:
                continue  # a shorter lesson further down may still fit
            chosen.append(candidate)
            used += cost
        if run_id is not None:
            session.add_all(LessonEvent(lesson_id=item.id, run_id=run_id, event="retrieved") for item in chosen)
        return chosen


def find_verified_recipe(db: Database, model_id: str, hardware_fingerprint: str) -> dict[str, Any] | None:
    """The newest successful run of exactly this model on exactly this hardware, as a reusable recipe."""
    statement = (
        select(Run)
        .where(Run.model_id == model_id, Run.hardware_fingerprint == hardware_fingerprint, Run.outcome == "success")
        .order_by(Run.created_at.desc(), Run.id.desc())
        .limit(1)
    )
    with db.session() as session:
        run = session.scalars(statement).first()
        if run is None:
            return None
        return {"run_id": run.id, "framework": run.framework, "image": run.image, "config": run.config}


def _scope_filters(scope: LessonScope) -> list[ColumnElement[bool]]:
    filters = [
        or_(column.is_(None), column == value.strip().lower())
        for column, value in (
            (Lesson.family, scope.family),
            (Lesson.framework, scope.framework),
            (Lesson.gpu_arch, scope.gpu_arch),
        )
        if value
    ]
    if scope.vram_mib is not None:
        filters.append(or_(Lesson.min_vram_mib.is_(None), Lesson.min_vram_mib <= scope.vram_mib))
    return filters


def _version_in_range(lesson: Lesson, version: str | None) -> bool:
    if not version:
        return True
    try:
        current = Version(Version(version).public)  # a local tag like +cu124 does not change the release
    except InvalidVersion:
        return True
    low, high = lesson.framework_min_version, lesson.framework_max_version
    return (low is None or Version(low) <= current) and (high is None or current <= Version(high))


def _ranked(
    rows: list[tuple[Lesson, str | None]], query: str, signature_hash: str | None
) -> list[tuple[Lesson, str | None]]:
    now = utcnow()
    lexical = _bm25([_tokens(f"{lesson.text} {' '.join(lesson.fix or {})}") for lesson, _ in rows], _tokens(query))

    def key(index: int) -> tuple[bool, float, int]:
        lesson, sig_hash = rows[index]
        weight = (
            (1 + math.log1p(max(lesson.strength, 0)))
            * _recency(lesson.last_validated or lesson.created_at, now)
            * (1.0 if lesson.status == "active" else 0.5)
        )
        # Lexical relevance dominates; the small constant still orders non-matching lessons by weight.
        return (signature_hash is not None and sig_hash == signature_hash, (lexical[index] + 0.1) * weight, lesson.id)

    return [rows[index] for index in sorted(range(len(rows)), key=key, reverse=True)]


def _recency(when: datetime, now: datetime) -> float:
    age_days = max((now - when).total_seconds(), 0.0) / 86400
    return 0.5 + 0.5 * 0.5 ** (age_days / RECENCY_HALF_LIFE_DAYS)


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _bm25(documents: list[list[str]], query: list[str], k1: float = 1.2, b: float = 0.75) -> list[float]:
    if not query or not documents:
        return [0.0] * len(documents)
    count = len(documents)
    average = sum(map(len, documents)) / count or 1.0
    frequency = Counter(token for document in documents for token in set(document))
    scores = []
    for document in documents:
        terms = Counter(document)
        norm = k1 * (1 - b + b * len(document) / average)
        scores.append(
            sum(
                math.log(1 + (count - frequency[token] + 0.5) / (frequency[token] + 0.5))
                * terms[token]
                * (k1 + 1)
                / (terms[token] + norm)
                for token in set(query)
                if token in terms
            )
        )
    return scores

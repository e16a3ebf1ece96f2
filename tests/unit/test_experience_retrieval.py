"""Lesson retrieval: scope filters, signature first, lexical ranking, strength and recency, limit and token budget."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from modeldeploy.experience_store import (
    Database,
    LessonEvent,
    LessonScope,
    RetrievedLesson,
    add_lesson,
    apply_outcome,
    estimate_tokens,
    import_lessons,
    open_database,
    record_run,
    retrieve_lessons,
    upsert_failure_signature,
)

OOM = "1" * 64


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    with open_database(db_url) as database:
        yield database


def _texts(found: list[RetrievedLesson]) -> list[str]:
    return [item.text for item in found]


@pytest.mark.parametrize(
    ("lesson_scope", "deployment", "matches"),
    [
        pytest.param({}, LessonScope(family="llama", framework="vllm", vram_mib=8000), True, id="unscoped-matches-all"),
        pytest.param({"family": "qwen2"}, LessonScope(family="Qwen2"), True, id="family-case-insensitive"),
        pytest.param({"family": "qwen2"}, LessonScope(family="llama"), False, id="other-family"),
        pytest.param({"family": "qwen2"}, LessonScope(), True, id="unknown-family-does-not-filter"),
        pytest.param({"framework": "vllm"}, LessonScope(framework="sglang"), False, id="other-framework"),
        pytest.param({"gpu_arch": "hopper"}, LessonScope(gpu_arch="ampere"), False, id="other-gpu-arch"),
        pytest.param({"min_vram_mib": 40000}, LessonScope(vram_mib=24576), False, id="needs-more-vram"),
        pytest.param({"min_vram_mib": 20000}, LessonScope(vram_mib=24576), True, id="enough-vram"),
        pytest.param(
            {"framework_min_version": "0.6", "framework_max_version": "0.8.5"},
            LessonScope(framework_version="0.8.5"),
            True,
            id="version-at-max-inclusive",
        ),
        pytest.param(
            {"framework_min_version": "0.6"}, LessonScope(framework_version="0.5.4"), False, id="version-below-min"
        ),
        pytest.param(
            {"framework_max_version": "0.8"}, LessonScope(framework_version="0.10.1"), False, id="version-above-max"
        ),
        pytest.param(
            {"framework_min_version": "0.6"}, LessonScope(framework_version="0.6.3+cu124"), True, id="local-tag-ignored"
        ),
    ],
)
def test_scope_filters(db: Database, lesson_scope: dict[str, Any], deployment: LessonScope, matches: bool) -> None:
    add_lesson(db, kind="rule", text="Scoped rule.", **lesson_scope)
    assert _texts(retrieve_lessons(db, deployment)) == (["Scoped rule."] if matches else [])


def test_retired_lessons_are_excluded_and_candidates_included(db: Database) -> None:
    retired = add_lesson(db, kind="rule", text="Retired rule.")
    apply_outcome(db, retired.id, helped=False)
    add_lesson(db, kind="fix", text="Candidate fix.", source="agent")
    found = retrieve_lessons(db, LessonScope())
    assert [(item.text, item.status) for item in found] == [("Candidate fix.", "candidate")]


def test_exact_signature_match_comes_first(db: Database) -> None:
    upsert_failure_signature(db, OOM, "torch.OutOfMemoryError: CUDA out of memory")
    add_lesson(db, kind="fix", text="Lower gpu_memory_utilization when CUDA runs out of memory.")
    add_lesson(db, kind="fix", text="Use a quantized checkpoint.", source="agent", signature_hash=OOM)
    found = retrieve_lessons(db, LessonScope(), query="CUDA out of memory", signature_hash=OOM)
    assert [(item.text, item.signature_match) for item in found] == [
        ("Use a quantized checkpoint.", True),
        ("Lower gpu_memory_utilization when CUDA runs out of memory.", False),
    ]


def test_lexical_ranking_prefers_the_lesson_about_the_query(db: Database) -> None:
    add_lesson(db, kind="rule", text="Pass --ipc=host so NCCL has shared memory.")
    add_lesson(db, kind="fix", text="Reduce max_model_len when the KV cache does not fit.", fix={"max_model_len": 8192})
    add_lesson(db, kind="rule", text="Gemma 2 needs bf16, not fp16.")
    found = retrieve_lessons(db, LessonScope(), query="ValueError: max model len larger than KV cache")
    assert found[0].text.startswith("Reduce max_model_len")
    assert len(found) == 3  # non-matching lessons in scope still fill the list


@pytest.mark.parametrize(
    ("weaker", "stronger"),
    [
        pytest.param({"strength": 1}, {"strength": 4}, id="higher-strength-first"),
        pytest.param({"created_at": "2023-01-01T00:00:00+00:00"}, {}, id="more-recent-first"),
        pytest.param({"status": "candidate"}, {"status": "active"}, id="active-before-candidate"),
    ],
)
def test_weight_breaks_lexical_ties(db: Database, weaker: dict[str, Any], stronger: dict[str, Any]) -> None:
    now = datetime.now(UTC).isoformat()
    import_lessons(
        db,
        [
            {"kind": "rule", "text": "Rule omega.", "created_at": now, **stronger},
            {"kind": "rule", "text": "Rule alpha.", "created_at": now, **weaker},  # newer id: wins a pure tie
        ],
    )
    assert _texts(retrieve_lessons(db, LessonScope(), query="rule")) == ["Rule omega.", "Rule alpha."]


def test_limit_caps_the_number_of_lessons(db: Database) -> None:
    for index in range(8):
        add_lesson(db, kind="rule", text=f"Rule number {index}.")
    assert len(retrieve_lessons(db, LessonScope())) == 5
    assert len(retrieve_lessons(db, LessonScope(), limit=2)) == 2


def test_token_budget_skips_lessons_that_do_not_fit(db: Database) -> None:
    add_lesson(db, kind="rule", text="Long and relevant: " + "memory " * 100)
    add_lesson(db, kind="rule", text="Short memory tip.")
    long_cost = estimate_tokens(retrieve_lessons(db, LessonScope(), query="memory")[0].render())
    short_only = retrieve_lessons(db, LessonScope(), query="memory", token_budget=long_cost - 1)
    assert _texts(short_only) == ["Short memory tip."]
    both = retrieve_lessons(db, LessonScope(), query="memory", token_budget=600)
    assert sum(estimate_tokens(item.render()) for item in both) <= 600
    assert len(both) == 2
    assert retrieve_lessons(db, LessonScope(), token_budget=3) == []


def test_retrieved_events_are_recorded_only_with_a_run(db: Database) -> None:
    first = add_lesson(db, kind="rule", text="First rule.")
    second = add_lesson(db, kind="rule", text="Second rule.")
    retrieve_lessons(db, LessonScope())
    run_id = record_run(db, model_id="m", outcome="failure")
    retrieve_lessons(db, LessonScope(), run_id=run_id)
    with db.session() as session:
        events = session.execute(select(LessonEvent.lesson_id, LessonEvent.event, LessonEvent.run_id)).all()
    assert sorted(tuple(event) for event in events) == [
        (first.id, "retrieved", run_id),
        (second.id, "retrieved", run_id),
    ]


def test_render_is_one_compact_advisory_line(db: Database) -> None:
    lesson = add_lesson(db, kind="fix", text="Lower max_model_len.", fix={"max_model_len": 8192}, source="agent")
    for _ in range(2):
        apply_outcome(db, lesson.id, helped=True, run_id=record_run(db, model_id="m", outcome="success"))
    (found,) = retrieve_lessons(db, LessonScope())
    assert found.advisory is True
    assert (found.kind, found.strength, found.evidence_count) == ("fix", 3, 2)
    expected = f'[lesson {lesson.id}, active, evidence 2] Lower max_model_len. (fix: {{"max_model_len": 8192}})'
    assert found.render() == expected

"""Runs and failure signatures: recording them and finding a verified recipe."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from modeldeploy.experience_store import (
    Database,
    Run,
    find_verified_recipe,
    open_database,
    record_run,
    upsert_failure_signature,
)

MODEL = "Qwen/Qwen2.5-7B-Instruct"
HARDWARE = "1xL4-24GB-cuda12.4"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    with open_database(db_url) as database:
        yield database


def _run(db: Database, outcome: str, image: str, model: str = MODEL, hardware: str = HARDWARE) -> int:
    return record_run(
        db,
        model_id=model,
        hardware_fingerprint=hardware,
        outcome=outcome,
        framework="vllm",
        image=image,
        config={"max_model_len": 8192},
        params=7_615_616_512,
    )


def test_record_run_stores_every_field(db: Database) -> None:
    signature = upsert_failure_signature(db, "c" * 64, "CUDA out of memory")
    run_id = record_run(
        db,
        model_id=MODEL,
        outcome="failure",
        params=7_615_616_512,
        metrics={"ttft_ms": 120.5},
        failure_signature_id=signature.id,
        deployment_name="qwen-7b",
    )
    with db.session() as session:
        run = session.scalars(select(Run).where(Run.id == run_id)).one()
    assert (run.params, run.metrics, run.failure_signature_id, run.deployment_name) == (
        7_615_616_512,
        {"ttft_ms": 120.5},
        signature.id,
        "qwen-7b",
    )


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        pytest.param({"model_id": MODEL, "outcome": "crashed"}, ValueError, id="unknown-outcome"),
        pytest.param({"model_id": MODEL}, ValueError, id="missing-outcome"),
        pytest.param({"model_id": MODEL, "outcome": "success", "gpu": "L4"}, TypeError, id="unknown-column"),
    ],
)
def test_record_run_rejects_bad_fields(db: Database, fields: dict[str, str], error: type[Exception]) -> None:
    with pytest.raises(error):
        record_run(db, **fields)


def test_upsert_failure_signature_counts_sightings(db: Database) -> None:
    first = upsert_failure_signature(db, "d" * 64, "ValueError: max_model_len <N> too large")
    assert (first.count, first.category, first.first_seen) == (1, None, first.last_seen)
    second = upsert_failure_signature(db, "d" * 64, "another template", category="context-length")
    assert (second.id, second.count, second.category) == (first.id, 2, "context-length")
    assert second.template == "ValueError: max_model_len <N> too large"
    assert second.first_seen == first.first_seen
    assert second.last_seen > first.last_seen


def test_verified_recipe_is_the_newest_success_for_that_model_and_hardware(db: Database) -> None:
    _run(db, "success", "vllm/vllm-openai:v0.6.3")
    newest_success = _run(db, "success", "vllm/vllm-openai:v0.8.5")
    _run(db, "failure", "vllm/vllm-openai:v0.9.0")
    _run(db, "success", "other-hardware", hardware="8xH100")
    assert find_verified_recipe(db, MODEL, HARDWARE) == {
        "run_id": newest_success,
        "framework": "vllm",
        "image": "vllm/vllm-openai:v0.8.5",
        "config": {"max_model_len": 8192},
    }


@pytest.mark.parametrize(
    ("model", "hardware"),
    [
        pytest.param(MODEL, "2xL4-24GB-cuda12.4", id="other-hardware"),
        pytest.param("Qwen/Qwen2.5-14B-Instruct", HARDWARE, id="other-model"),
    ],
)
def test_no_verified_recipe_without_an_exact_match(db: Database, model: str, hardware: str) -> None:
    _run(db, "success", "vllm/vllm-openai:v0.8.5")
    _run(db, "failure", "vllm/vllm-openai:v0.8.5", model=model, hardware=hardware)
    assert find_verified_recipe(db, model, hardware) is None

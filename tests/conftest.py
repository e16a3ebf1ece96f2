"""Shared fixtures: isolated MODELDEPLOY_HOME per test, fixture paths, plan helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# huggingface_hub reads this once, at import (test modules import it at collection): set it first.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
MODELS = FIXTURES / "models"
MACHINES = FIXTURES / "machines"
TINY_MODEL = ROOT / "models" / "tiny-llama"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own home and database; no test sees the user's ~/.modeldeploy or an LLM."""
    home = tmp_path / "mdhome"
    monkeypatch.setenv("MODELDEPLOY_HOME", str(home))
    monkeypatch.delenv("MODELDEPLOY_DATABASE_URL", raising=False)
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "MODELDEPLOY_LLM_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture
def machine():
    from modeldeploy.tools.hardware.probe import load_hardware_file

    return lambda name: load_hardware_file(MACHINES / f"{name}.json")


@pytest.fixture
def model_facts():
    from modeldeploy.tools.model_inspect.inspect import inspect_model

    return lambda name: inspect_model(str(MODELS / name))


@pytest.fixture
def qwen_yarn(tmp_path: Path):
    """Qwen2.5-7B(-AWQ) with the model card's YaRN rope scaling: 131072 tokens of derived context."""
    import json

    def make(variant: str) -> str:
        cfg = json.loads((MODELS / variant / "config.json").read_text())
        cfg["rope_scaling"] = {"factor": 4.0, "original_max_position_embeddings": 32768, "type": "yarn"}
        out = tmp_path / f"{variant}-yarn"
        out.mkdir()
        (out / "config.json").write_text(json.dumps(cfg))
        return str(out)

    return make


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path):
    """A fresh empty database, once on SQLite and once on PostgreSQL (scripts/ci/postgres_up.sh)."""
    from databases import fresh_database

    with fresh_database(request.param, tmp_path) as url:
        yield url

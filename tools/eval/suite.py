"""What every suite provides: its documents from a pack, the messages for one document, and the scorer.

A suite is data plus three functions; the runner knows nothing about benchmarks. `template_sha256` hashes
everything that shapes a prompt or a score (template text, shots, generation parameters, scorer version), so
two results with the same dataset and template hashes were asked the same questions the same way.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from modeldeploy.tools.eval.packs import Pack
from modeldeploy.tools.eval.schema import Generation, Score


@dataclass(frozen=True)
class Doc:
    """One question: its id, the expected answer as text, and the row in the pack's schema."""

    id: str
    target: str
    row: dict[str, Any]
    category: str | None = None


@dataclass
class Prepared:
    """A suite bound to its data: the documents and the packs they came from."""

    docs: list[Doc]
    pack: Pack
    fewshot: Pack | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def messages_hash(messages: list[dict[str, str]]) -> str:
    """sha256 of the messages as compact sorted-key JSON. orjson writes the same bytes as
    json.dumps(ensure_ascii=False, sort_keys=True, separators=(",", ":")) for strings (the hashes in existing
    samples files stay valid), ~4x faster: it runs for every question before the first request."""
    return hashlib.sha256(orjson.dumps(messages, option=orjson.OPT_SORT_KEYS)).hexdigest()


class Suite(ABC):
    """A benchmark: name, version, defaults, and how to read, prompt and score it."""

    name: str
    version: str = "1"
    n_shot: int = 0
    repeats: int = 1
    hf_repo: str | None = None
    split: str = "test"
    metric_official: str = "official"
    metric_strict: str = "strict"

    def __init__(self) -> None:
        self.generation = self.default_generation()

    def default_generation(self) -> Generation:
        return Generation()

    @abstractmethod
    def prepare(self, data: Path | None, fewshot: Path | None) -> Prepared:
        """Read the pack (and the few-shot split when the suite has one); one-line errors for a wrong schema."""

    @abstractmethod
    def messages(self, doc: Doc, prepared: Prepared) -> list[dict[str, str]]:
        """The chat messages asking `doc`."""

    @abstractmethod
    def score(self, doc: Doc, answer: str) -> Score:
        """Score the answer text (reasoning already stripped)."""

    @abstractmethod
    def template_text(self) -> str:
        """Every literal that shapes the prompts and the scoring rules, for the template hash."""

    def template_sha256(self) -> str:
        return sha256_text(json.dumps({"suite": self.name, "version": self.version, "n_shot": self.n_shot,
                                       "template": self.template_text(),
                                       "generation": self.generation.model_dump(mode="json")}, sort_keys=True))

    def describe(self) -> dict[str, Any]:
        """The task's entry in the lm-eval `configs` section."""
        return {"task": self.name, "dataset_path": self.hf_repo, "test_split": self.split,
                "output_type": "generate_until", "num_fewshot": self.n_shot,
                "generation_kwargs": self.generation.model_dump(mode="json"),
                "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
                "filter_list": [{"name": self.metric_official}, {"name": self.metric_strict}],
                "metadata": {"version": self.version}}


def require_fields(rows: list[dict[str, Any]], fields: tuple[str, ...], path: Path, schema: str) -> None:
    """Every row has the fields of the official schema; else one line naming the first that lacks one."""
    if not rows:
        raise _error(f"{path}: no rows")
    for number, row in enumerate(rows, 1):
        missing = [f for f in fields if f not in row]
        if missing:
            raise _error(f"{path}: row {number} lacks {', '.join(missing)} (expected the {schema} schema: "
                         f"{', '.join(fields)})")


def first_field(row: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if name in row and row[name] is not None:
            return row[name]
    return None


def _error(message: str) -> Exception:
    from modeldeploy.errors import UserInputError

    return UserInputError(message)

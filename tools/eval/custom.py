"""Custom suites: a YAML file over a JSONL pack, scored by exact match, a regex, multiple choice or a number.

    name: addition
    data: addition.jsonl            # relative to the YAML file; --data overrides
    prompt: "What is {a} plus {b}?" # str.format over the row's fields ({options} = "A. ..." lines)
    target: answer                  # the row field holding the expected answer
    scoring: {type: exact_match}    # exact_match | regex | multiple_choice | numeric
    generation: {max_tokens: 16}

Official score: the extraction (the regex's group, the MMLU-Pro letter steps, the last number, or the whole
normalised response) compared with the target. Strict: the whole response, stripped, is exactly the answer.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from modeldeploy.errors import UserInputError
from modeldeploy.tools.eval.extract import last_number, mmlu_pro_letter, parse_number
from modeldeploy.tools.eval.packs import load_pack, resolve_split
from modeldeploy.tools.eval.schema import Generation, Score
from modeldeploy.tools.eval.suite import Doc, Prepared, Suite

LETTERS = "ABCDEFGHIJKLMNOP"


class Scoring(BaseModel):
    """How a response is turned into an answer and compared."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["exact_match", "regex", "multiple_choice", "numeric"] = "exact_match"
    pattern: str | None = Field(None, description="Extraction regex: group 1 if it has groups, else the match.")
    ignore_case: bool = False
    abs_tol: float = Field(0.0, ge=0)
    rel_tol: float = Field(0.0, ge=0)
    choices_field: str = "options"

    @model_validator(mode="after")
    def _check(self) -> Scoring:
        if self.type == "regex" and not self.pattern:
            raise ValueError("scoring type regex needs a pattern")
        if self.pattern:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"bad pattern: {exc}") from None
        return self


class CustomSpec(BaseModel):
    """A custom suite file."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    version: str = "1"
    description: str = ""
    data: str | None = None
    id_field: str | None = None
    category_field: str | None = None
    system: str | None = None
    prompt: str
    target: str
    scoring: Scoring = Field(default_factory=Scoring)
    generation: Generation = Field(default_factory=lambda: Generation(max_tokens=256))


def load_spec(path: Path) -> CustomSpec:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UserInputError(f"{path}: not a readable YAML suite ({exc.__class__.__name__})") from None
    try:
        return CustomSpec.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserInputError(f"{path}: {'.'.join(str(p) for p in err['loc']) or 'suite'}: {err['msg']}") from None


def _normalise(text: str, ignore_case: bool) -> str:
    text = " ".join(text.split()).rstrip(".").strip()
    return text.lower() if ignore_case else text


class CustomSuite(Suite):
    def __init__(self, spec: CustomSpec, spec_path: Path) -> None:
        self.spec = spec
        self.spec_path = spec_path
        self.name = spec.name
        self.version = spec.version
        super().__init__()

    def default_generation(self) -> Generation:
        return self.spec.generation.model_copy()

    def prepare(self, data: Path | None, fewshot: Path | None) -> Prepared:
        if data is None and self.spec.data:
            data = (self.spec_path.parent / self.spec.data).resolve()
        pack = load_pack(resolve_split(data, "test", None))
        docs = []
        for number, row in enumerate(pack.rows, 1):
            if self.spec.target not in row:
                raise UserInputError(f"{pack.path}: row {number} lacks the target field {self.spec.target!r}")
            target = row[self.spec.target]
            if self.spec.scoring.type == "multiple_choice" and isinstance(target, int):
                target = LETTERS[target]
            try:
                self.render(row)
            except (KeyError, IndexError) as exc:
                raise UserInputError(f"{pack.path}: row {number}: the prompt uses {exc} which the row lacks") from None
            ident = row.get(self.spec.id_field) if self.spec.id_field else None
            category = row.get(self.spec.category_field) if self.spec.category_field else None
            docs.append(Doc(id=str(ident if ident is not None else number - 1), target=str(target), row=row,
                            category=None if category is None else str(category)))
        return Prepared(docs=docs, pack=pack)

    def render(self, row: dict[str, Any]) -> str:
        fields = dict(row)
        choices = row.get(self.spec.scoring.choices_field)
        if isinstance(choices, list):
            fields["options"] = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))
        return self.spec.prompt.format(**fields)

    def messages(self, doc: Doc, prepared: Prepared) -> list[dict[str, str]]:
        system = [{"role": "system", "content": self.spec.system}] if self.spec.system else []
        return [*system, {"role": "user", "content": self.render(doc.row)}]

    def extract(self, answer: str) -> tuple[str | None, str | None]:
        scoring = self.spec.scoring
        if scoring.pattern:
            m = re.search(scoring.pattern, answer, re.IGNORECASE if scoring.ignore_case else 0)
            if not m:
                return None, None
            return (m.group(1) if m.re.groups else m.group(0)).strip(), "pattern"
        if scoring.type == "multiple_choice":
            return mmlu_pro_letter(answer)
        if scoring.type == "numeric":
            found = last_number(answer)
            return found, "last_number" if found else None
        text = answer.strip()
        return (text or None), ("whole" if text else None)

    def matches(self, found: str, target: str) -> bool:
        scoring = self.spec.scoring
        if scoring.type == "numeric":
            got, want = parse_number(found), parse_number(target)
            if got is None or want is None:
                return False
            return abs(got - want) <= Decimal(str(scoring.abs_tol)) + Decimal(str(scoring.rel_tol)) * abs(want)
        if scoring.type == "multiple_choice":
            return found.strip().upper() == target.strip().upper()
        return _normalise(found, scoring.ignore_case) == _normalise(target, scoring.ignore_case)

    def score(self, doc: Doc, answer: str) -> Score:
        found, method = self.extract(answer)
        official = found is not None and self.matches(found, doc.target)
        strict = answer.strip() == doc.target.strip() or (
            self.spec.scoring.type == "numeric" and parse_number(answer.strip()) is not None
            and self.matches(answer.strip(), doc.target))
        return Score(extracted=found, correct=official, correct_strict=strict, unparsed=found is None, method=method)

    def template_text(self) -> str:
        return self.spec.model_dump_json(exclude={"data", "description"})

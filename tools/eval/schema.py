"""The typed records of an evaluation: one scored sample, the run's configuration and its summary."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Generation(BaseModel):
    """Sampling parameters sent with every request of a suite (recorded in the result)."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = Field(2048, ge=1)
    stop: list[str] = Field(default_factory=list)
    seed: int | None = Field(0, description="Base seed; repeat r of a question is sent seed + r.")


class Score(BaseModel):
    """What a suite's scorer says about one response."""

    extracted: str | None = Field(description="The answer the extraction found; None when unparsed.")
    correct: bool = Field(description="Correct under the suite's official rule (MMLU-Pro: random guess when unparsed).")
    correct_strict: bool = Field(description="Correct with no fallback: unparsed counts as wrong.")
    unparsed: bool
    method: str | None = Field(None, description="Which extraction step matched (e.g. 'answer_is', 'answer_colon').")


class SampleRecord(BaseModel):
    """One request and its scored answer: a line of the per-sample JSONL (also the resume state)."""

    doc_id: str
    repeat: int = 0
    prompt_hash: str
    target: str
    category: str | None = None
    response: str | None = None
    reasoning: str | None = Field(None, description="reasoning_content / <think> text, stripped before extraction.")
    extracted: str | None = None
    correct: bool = False
    correct_strict: bool = False
    unparsed: bool = False
    truncated: bool = False
    finish_reason: str | None = None
    method: str | None = None
    error: str | None = Field(None, description="Transport/HTTP failure after retries: the sample was not answered.")
    attempts: int = 0
    latency_s: float = 0.0
    usage: dict[str, Any] | None = None

    @property
    def key(self) -> tuple[str, int]:
        return self.doc_id, self.repeat


class EvalSummary(BaseModel):
    """What `modeldeploy eval --json` prints (plus the lm-eval document's path when --out is given)."""

    suite: str
    model: str
    endpoint: str
    n: int = Field(description="Scored samples (questions x repeats).")
    n_docs: int
    repeats: int
    score_official: float
    score_strict: float
    unparsed_rate: float
    truncated_rate: float
    error_rate: float
    ci95: list[float] = Field(description="Bootstrap 95% interval of score_official, resampling questions.")
    stderr: float
    dataset_path: str
    dataset_sha256: str
    fewshot_sha256: str | None = None
    template_sha256: str
    n_shot: int
    generation: Generation
    categories: dict[str, dict[str, float]] = Field(default_factory=dict)
    extraction_methods: dict[str, int] = Field(default_factory=dict)
    resumed: int = Field(0, description="Samples taken from a previous run's records in --out.")
    wall_time_s: float
    results_path: str | None = None
    samples_path: str | None = None

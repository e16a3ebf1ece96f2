"""The request, the audit trail, LLM usage and artifacts of a run."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from modeldeploy.schemas.hardware import HardwareFacts
from modeldeploy.schemas.text import FATAL_MAX_CHARS, elide_middle


DEPLOYMENT_NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"
"""DNS-1123 label: valid as a container name and as Kubernetes metadata."""


class BenchProfile(BaseModel):
    """The load test the benchmark node runs after the smoke test (a closed-loop sweep of users)."""

    concurrency: list[int] = Field(default_factory=lambda: [1, 4], min_length=1, max_length=16,
                                   description="Load points: simultaneous users.")
    num_requests: int = Field(default=32, ge=1, le=100_000, description="Requests per load point.")
    input_len: int = Field(default=128, ge=1, le=1_000_000, description="Prompt tokens.")
    output_len: int = Field(default=64, ge=1, le=1_000_000, description="Output tokens asked for.")
    api: Literal["chat", "completions"] = "chat"
    slo_ttft_ms: float | None = Field(default=None, gt=0, description="Goodput: time to first token at most this.")
    slo_tpot_ms: float | None = Field(default=None, gt=0, description="Goodput: time per output token at most this.")

    @field_validator("concurrency")
    @classmethod
    def _users(cls, values: list[int]) -> list[int]:
        if any(v < 1 or v > 4096 for v in values):
            raise ValueError("concurrency values are between 1 and 4096")
        return values


class EvalRequest(BaseModel):
    """One evaluation suite the evaluate node runs against the new endpoint."""

    suite: str = Field(pattern=r"^([A-Za-z0-9_.\-]{1,64}|[^\x00]{1,4096}\.ya?ml)$",
                       description="mmlu_pro, aime2025, gsm8k, addition, or a custom suite's YAML file.")
    data: str | None = Field(default=None, description="The dataset pack (a file or directory); default: the suite's own.")
    limit: int | None = Field(default=None, ge=1, description="Only the first N questions.")
    concurrency: int = Field(default=8, ge=1, le=256)


class DeployRequest(BaseModel):
    """What the user asked for."""

    model: str = Field(description="A local directory, a .gguf file, or a Hugging Face repo id.")
    revision: str | None = Field(default=None, description="Hub revision (branch, tag or commit).")
    framework: str | None = Field(default=None, description="Force a framework (vllm, sglang, tgi, llama.cpp, transformers).")
    max_gpus: int | None = Field(default=None, ge=1, description="Use at most this many GPUs.")
    max_model_len: int | None = Field(default=None, ge=16, description="Required context length.")
    runtime: Literal["docker", "process", "kubernetes"] = "docker"
    hardware: HardwareFacts | None = Field(default=None, description="Plan for this machine instead of probing.")
    deployment_name: str | None = Field(default=None, pattern=DEPLOYMENT_NAME,
                                        description="Name of the deployment, DNS-1123 (derived when empty).")
    served_model_name: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    action: Literal["plan", "deploy"] = Field(default="plan", description="Stop after the plan, or deploy it.")
    image: str | None = Field(default=None, description="Use this image instead of the catalog's (e.g. the simulator).")
    approve: bool = Field(default=False, description="Approve registration up front (--yes).")
    python_env: str | None = Field(default=None, description="process runtime: the environment whose bin/ has the server.")
    command: list[str] | None = Field(default=None, description="process runtime: server argv prefix instead of the framework's.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment for the server (names A-Z0-9_).")
    virtual_gpus: bool = Field(default=False, description="The hardware's GPUs are virtual (the simulator): no device "
                                                          "requests; the simulator is told the GPU it plays.")
    trust_remote_code_approved: bool = Field(default=False, description="A person approved running the model's own code.")
    benchmark: BenchProfile | None = Field(default=None, description="Load test the endpoint after the smoke test.")
    evals: list[EvalRequest] = Field(default_factory=list, max_length=16,
                                     description="Evaluation suites to run after the benchmark.")

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for key, value in env.items():
            if not re.fullmatch(r"[A-Z_][A-Z0-9_]{0,127}", key) or "\x00" in value:
                raise ValueError(f"invalid environment variable {key[:40]!r}")
        return env


class AuditEntry(BaseModel):
    """One step of the audit trail."""

    node: str
    action: str
    outcome: Literal["ok", "skipped", "failed", "infeasible"] = "ok"
    detail: dict[str, Any] = Field(default_factory=dict)
    duration_ms: int = 0
    at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))


class LlmUsage(BaseModel):
    """One LLM call (or a refused one) of one node."""

    node: str
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = Field(default=False, description="True when the provider gave no usage and we estimated.")
    model: str | None = None


class Artifacts(BaseModel):
    """Things a run produced on disk or in the engine."""

    deployment_name: str | None = None
    manifests: dict[str, str] = Field(default_factory=dict, description="kind -> path written.")
    run_spec: dict[str, Any] | None = Field(default=None, description="Docker SDK containers.run keyword arguments.")
    process_spec: dict[str, Any] | None = Field(default=None, description="argv/env for the process runtime.")
    served_model_name: str | None = None
    host_port: int | None = None
    endpoint: str | None = Field(default=None, description="Base URL ending in /v1.")
    weights_dir: str | None = None
    image: str | None = Field(default=None, description="The image actually used (after mirror rewrite).")
    framework_version: str | None = Field(default=None, description="The version the running server reports.")
    container_id: str | None = None
    gateway_config: str | None = None


class Attempt(BaseModel):
    """One start of the server and how it ended."""

    number: int
    runtime: str
    container_id: str | None = None
    outcome: Literal["ready", "crashed", "timeout", "start_failed", "smoke_failed"]
    exit_code: int | None = None
    error: str | None = None
    log_tail: str = ""
    duration_s: float = 0.0
    slots: dict[str, Any] | None = Field(default=None, description="The launch slots this attempt used.")


class Repair(BaseModel):
    """What diagnose_failure concluded about one failed attempt, and the fix it applied (if any)."""

    attempt: int
    category: str
    signature: str | None = None
    signature_hash: str | None = None
    fatal: str | None = Field(default=None, description=f"The decisive log line, verbatim up to {FATAL_MAX_CHARS} "
                                                        "characters (longer: head […] tail).")
    fix: dict[str, Any] | None = None
    action_for_human: str | None = None
    decided_by: Literal["rules", "experience", "llm"] = "rules"
    reason: str = ""
    lesson_id: int | None = None
    digest_tokens: int = 0

    @field_validator("fatal")
    @classmethod
    def _bounded(cls, fatal: str | None) -> str | None:
        return elide_middle(fatal, FATAL_MAX_CHARS) if fatal else fatal

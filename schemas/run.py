"""The request, the audit trail, LLM usage and artifacts of a run."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field

from modeldeploy.schemas.hardware import HardwareFacts


class DeployRequest(BaseModel):
    """What the user asked for."""

    model: str = Field(description="A local directory, a .gguf file, or a Hugging Face repo id.")
    revision: str | None = Field(default=None, description="Hub revision (branch, tag or commit).")
    framework: str | None = Field(default=None, description="Force a framework (vllm, sglang, tgi, llama.cpp, transformers).")
    max_gpus: int | None = Field(default=None, ge=1, description="Use at most this many GPUs.")
    max_model_len: int | None = Field(default=None, ge=16, description="Required context length.")
    runtime: Literal["docker", "process", "kubernetes"] = "docker"
    hardware: HardwareFacts | None = Field(default=None, description="Plan for this machine instead of probing.")
    deployment_name: str | None = Field(default=None, description="Name of the deployment (derived when empty).")
    served_model_name: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)


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

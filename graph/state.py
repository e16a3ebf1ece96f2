"""The typed state of the deployment graph.

Channels hold JSON-ready data (nodes return ``model_dump(mode="json")``), so
checkpoints, the HTTP API and Studio all see plain JSON; nodes read it back
as these pydantic models.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from modeldeploy.schemas.decision import Decision
from modeldeploy.schemas.hardware import HardwareFacts
from modeldeploy.schemas.model import ModelFacts
from modeldeploy.schemas.plan import Plan
from modeldeploy.schemas.run import Artifacts, Attempt, AuditEntry, DeployRequest, LlmUsage, Repair


class DeployInput(BaseModel):
    """What a run starts from."""

    request: DeployRequest = Field(description="The model and constraints.")


class DeployState(BaseModel):
    """Everything a deployment run knows, node by node."""

    request: DeployRequest
    """The user's request: model source, constraints, runtime."""
    hardware: HardwareFacts | None = None
    """The machine, probed or from a file (probe_hardware)."""
    model: ModelFacts | None = None
    """Facts read from the model's files (inspect_model)."""
    plan: Plan | None = None
    """Feasible candidates with their arithmetic (plan_resources)."""
    decision: Decision | None = None
    """The chosen framework and slot values, and who chose (choose_framework)."""
    artifacts: Artifacts = Field(default_factory=Artifacts)
    """Manifests, run spec, and later containers and endpoints."""
    attempts: Annotated[list[Attempt], operator.add] = Field(default_factory=list)
    """Each start of the server: outcome, exit code, log tail."""
    repairs: Annotated[list[Repair], operator.add] = Field(default_factory=list)
    """Each diagnosis of a failed attempt: category, signature, fix applied or the action a person must take."""
    lessons_applied: Annotated[list[int], operator.add] = Field(default_factory=list)
    """Experience-library lessons this run acted on (strengthened on success, weakened on failure)."""
    smoke: dict[str, Any] | None = None
    """The smoke test result (chat/completion, streaming and not, usage) and the stack it ran on."""
    benchmark: dict[str, Any] | None = None
    """The load test's result document (docs/benchmarking.md), with the comparison to the previous run."""
    evaluations: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Scores per evaluation suite (docs/evaluation.md), with the dataset and template hashes."""
    approval: dict[str, Any] | None = None
    """Whether a person approved registering the endpoint, and who."""
    status: Literal["planned", "deploying", "ready", "failed", "rejected"] | None = None
    """Where the deployment ended."""
    audit: Annotated[list[AuditEntry], operator.add] = Field(default_factory=list)
    """What each node did, the exact call, how long, the outcome."""
    usage: Annotated[list[LlmUsage], operator.add] = Field(default_factory=list)
    """LLM calls and tokens per node."""
    error: str | None = None
    """Why the run stopped early (e.g. nothing fits), for people."""

    def tokens_used(self) -> int:
        return sum(u.prompt_tokens + u.completion_tokens for u in self.usage)

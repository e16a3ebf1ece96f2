"""Deployment candidates with their memory arithmetic, and the plan that ranks them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class MemoryMath(BaseModel):
    """The arithmetic behind a candidate, per device; `lines` shows it to people."""

    device: Literal["gpu", "cpu"]
    devices_used: int
    usable_gib_per_device: float = Field(description="Device memory x utilization (RAM share on CPU).")
    memory_utilization: float
    weights_gib_total: float
    weights_gib_per_gpu: float
    activation_gib_per_gpu: float
    overhead_gib_per_gpu: float
    kv_cache_gib_per_gpu: float = Field(description="What remains for the KV cache.")
    kv_bytes_per_token: int = Field(description="All layers, all KV heads, at the KV dtype.")
    kv_bytes_per_token_per_gpu: int
    kv_tokens_per_gpu: int = Field(description="Tokens the KV budget holds.")
    lines: list[str] = Field(default_factory=list)


class Candidate(BaseModel):
    """One way to serve the model on this machine."""

    framework: str
    framework_version: str | None = None
    image: str | None = None
    image_cuda: str | None = None
    device: Literal["cuda", "cpu"]
    tensor_parallel_size: int = 1
    gpus: int = 0
    gpu_layers: int | None = Field(default=None, description="llama.cpp layers offloaded to GPU (None: all or n/a).")
    dtype: str | None = None
    quantization: str | None = None
    kv_cache_dtype: str = "auto"
    max_model_len: int = 0
    max_model_len_limit: int = Field(default=0, description="The longest context the KV budget holds.")
    trust_remote_code: bool = False
    feasible: bool = True
    blocker: Literal["not_applicable", "compute_capability", "quantization", "dtype", "driver", "parallelism",
                     "context", "memory"] | None = Field(default=None, description="Why infeasible, as a category.")
    reasons: list[str] = Field(default_factory=list, description="Why infeasible, or notes that matter.")
    memory: MemoryMath | None = None

    def label(self) -> str:
        par = f"tp{self.tensor_parallel_size}" if self.device == "cuda" else "cpu"
        return f"{self.framework}/{par}/{self.dtype or self.quantization or 'native'}"


class Plan(BaseModel):
    """The feasible candidates, best first, and what was rejected and why."""

    feasible: bool
    candidates: list[Candidate] = Field(default_factory=list, description="Feasible, best first.")
    rejected: list[Candidate] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    alternatives: list[str] = Field(default_factory=list, description="Nearest feasible changes when nothing fits.")
    required_context: int = 0

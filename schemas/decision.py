"""The framework decision: which candidate, with which slot values, decided by whom and why."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

DecidedBy = Literal["user", "rules", "experience", "llm"]


class LaunchSlots(BaseModel):
    """The blanks of a framework's launch template. Only these ever reach a command line."""

    tensor_parallel_size: int = 1
    gpus: int = 0
    gpu_layers: int | None = None
    dtype: str | None = None
    max_model_len: int
    quantization: str | None = None
    gpu_memory_utilization: float | None = None
    kv_cache_dtype: str = "auto"
    kv_cache_space_gib: int | None = Field(default=None, description="CPU KV cache size (vLLM CPU build).")
    trust_remote_code: bool = False
    enforce_eager: bool = False
    ipc_host: bool = Field(default=False, description="Share the host IPC namespace (/dev/shm) for NCCL with TP > 1.")
    max_num_seqs: int | None = None
    extra_flags: list[str] = Field(default_factory=list, description="From the framework's allow-list only.")


class Decision(BaseModel):
    """What will be deployed."""

    framework: str
    framework_version: str | None = None
    image: str | None = None
    device: Literal["cuda", "cpu"]
    slots: LaunchSlots
    decided_by: DecidedBy
    rationale: str
    lessons_used: list[int] = Field(default_factory=list)
    llm_attempts: int = 0
    rejected_answers: list[str] = Field(default_factory=list, description="Why LLM answers were refused.")
    prompt_tokens: int | None = Field(default=None, description="Size of the prompt sent, when one was sent.")

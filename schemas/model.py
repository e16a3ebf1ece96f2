"""Facts about a model, read from its files without loading weights."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Quantization(BaseModel):
    """How the checkpoint is quantized (None on ModelFacts when it is not)."""

    method: str = Field(description="awq, gptq, fp8, bitsandbytes, compressed-tensors, gguf, ...")
    bits: int | None = None
    group_size: int | None = None
    detail: str | None = Field(default=None, description="e.g. the GGUF file type name 'MOSTLY_Q4_K_M'.")


class MlaFacts(BaseModel):
    """Multi-head latent attention (DeepSeek V2/V3): the KV cache stores a latent, not heads."""

    kv_lora_rank: int
    qk_rope_head_dim: int
    qk_nope_head_dim: int | None = None
    v_head_dim: int | None = None
    q_lora_rank: int | None = None


class MoeFacts(BaseModel):
    """Mixture-of-experts shape."""

    num_experts: int
    experts_per_token: int
    shared_experts: int = 0
    expert_intermediate_size: int | None = None


class ModelSource(BaseModel):
    """Where the model comes from."""

    kind: Literal["local_dir", "gguf_file", "hf_repo"]
    ref: str = Field(description="What the user gave: a path or a repo id.")
    path: str | None = Field(default=None, description="Local directory or file, when there is one.")
    repo_id: str | None = None
    revision: str | None = None

    @property
    def key(self) -> str:
        """What identifies the model across runs: the hub id, or the resolved local path."""
        return self.repo_id or self.path or self.ref


class ModelFacts(BaseModel):
    """Everything the planner and the prompts need to know about a model."""

    source: ModelSource
    name: str = Field(description="Short name used for deployments, e.g. 'Qwen2.5-7B-Instruct'.")
    architecture: str | None = Field(default=None, description="First entry of config 'architectures' (or GGUF arch).")
    family: str | None = Field(default=None, description="config model_type, e.g. 'llama', 'qwen2', 'gemma2'.")
    format: Literal["safetensors", "bin", "gguf", "unknown"] = "unknown"
    weight_files: list[str] = Field(default_factory=list)
    param_count: int | None = None
    active_param_count: int | None = Field(default=None, description="Per-token active parameters for MoE models.")
    weight_bytes: int | None = Field(default=None, description="Bytes of the checkpoint's weights as stored.")
    weight_bytes_source: Literal["index", "headers", "gguf", "config", "unknown"] = "unknown"
    torch_dtype: str | None = None
    quantization: Quantization | None = None
    num_layers: int | None = None
    hidden_size: int | None = None
    intermediate_size: int | None = None
    num_attention_heads: int | None = None
    num_kv_heads: int | None = None
    head_dim: int | None = None
    vocab_size: int | None = None
    max_position_embeddings: int | None = None
    rope_scaling: dict | None = None
    sliding_window: int | None = None
    mla: MlaFacts | None = None
    moe: MoeFacts | None = None
    tie_word_embeddings: bool = False
    trust_remote_code: bool = Field(default=False, description="Custom code (auto_map) for a model_type transformers does not know.")
    auto_map: bool = Field(default=False, description="The config ships auto_map entries.")
    has_chat_template: bool = False
    deploy_notes: str = Field(default="", description="Trimmed serving sections of the README (untrusted text).")
    warnings: list[str] = Field(default_factory=list)

    def summary(self) -> str:
        """One line for prompts and logs."""
        params = f"{self.param_count / 1e9:.2f}B" if self.param_count else "?"
        quant = self.quantization.method if self.quantization else "none"
        return (
            f"{self.name}: {self.architecture} ({self.family}), {params} params, dtype {self.torch_dtype}, "
            f"quantization {quant}, {self.num_layers} layers, heads {self.num_attention_heads}/kv {self.num_kv_heads}, "
            f"context {self.max_position_embeddings}"
        )

"""The memory arithmetic of serving a decoder: weights, activations, KV cache, the context that fits.

Formulas (documented in the README, "How the planner does its arithmetic"):
- KV bytes per token = 2 x layers x kv_heads x head_dim x kv dtype bytes;
  MLA models store a latent instead: layers x (kv_lora_rank + qk_rope_head_dim) x bytes,
  replicated on every tensor-parallel rank.
- Per GPU the KV heads are split by TP; when TP exceeds the KV heads they are replicated.
- Activation peak = batched tokens x (4 hidden + 2 ffn/TP + 3 q_dim/TP) x act bytes + sampler logits
  (max_num_seqs x vocab x 4 bytes); plus a fixed runtime overhead (CUDA context, graphs, NCCL).
- KV budget = device memory x utilization - weights/TP - activations - overhead.
"""

from __future__ import annotations

import math

from modeldeploy.schemas.model import ModelFacts

GIB = 1024**3
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1}


def gib(n_bytes: float) -> float:
    return round(n_bytes / GIB, 2)


def kv_bytes_per_token(model: ModelFacts, kv_bytes: int) -> int:
    """KV cache bytes one token occupies across all layers."""
    layers = model.num_layers or 0
    if model.mla:
        return layers * (model.mla.kv_lora_rank + model.mla.qk_rope_head_dim) * kv_bytes
    return 2 * layers * (model.num_kv_heads or 0) * (model.head_dim or 0) * kv_bytes


def kv_bytes_per_token_per_gpu(model: ModelFacts, kv_bytes: int, tp: int) -> int:
    if model.mla or tp <= 1:
        return kv_bytes_per_token(model, kv_bytes)
    heads_per_rank = max(1, (model.num_kv_heads or 1) // tp)
    return 2 * (model.num_layers or 0) * heads_per_rank * (model.head_dim or 0) * kv_bytes


def activation_bytes(model: ModelFacts, batched_tokens: int, max_num_seqs: int, tp: int, act_bytes: int) -> int:
    """Peak activation memory of a profiling forward pass on one rank."""
    hidden = model.hidden_size or 0
    ffn = model.intermediate_size or 4 * hidden
    if model.moe and model.moe.expert_intermediate_size:
        ffn = max(ffn, model.moe.expert_intermediate_size * model.moe.experts_per_token)
    q_dim = (model.num_attention_heads or 0) * (model.head_dim or 0)
    per_token = (4 * hidden + (2 * ffn + 3 * q_dim) / max(tp, 1)) * act_bytes
    logits = max_num_seqs * (model.vocab_size or 32000) * 4
    return int(batched_tokens * per_token + logits)


def tokens_that_fit(budget_bytes: float, per_token_bytes: int) -> int:
    if budget_bytes <= 0 or per_token_bytes <= 0:
        return 0
    return int(budget_bytes // per_token_bytes)


def round_context(tokens: int) -> int:
    """Round a context length down to a multiple of 256 (to 16 below 1024), as people write them."""
    step = 256 if tokens >= 1024 else 16
    return (tokens // step) * step


def quantized_weight_bytes(model: ModelFacts, bits: int = 4, group: int = 128) -> int:
    """Estimated weights of a 4-bit AWQ/GPTQ variant of an unquantized model."""
    params = model.param_count or 0
    embed = (model.vocab_size or 0) * (model.hidden_size or 0) * (1 if model.tie_word_embeddings else 2)
    linear = max(params - embed, 0)
    return int(linear * (bits + (16 + bits) / group) / 8 + embed * 2)


def ceil_gib(n_bytes: float) -> int:
    return max(1, math.ceil(n_bytes / GIB))

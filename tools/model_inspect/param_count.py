"""Parameter count from a transformers config, for when no weights are at hand.

Covers dense decoders (Llama, Qwen2, Mistral, Gemma, Phi-3, InternLM2), sparse
MoE (Mixtral, Qwen-MoE, DeepSeek) and DeepSeek's multi-head latent attention.
The result is within a fraction of a percent of the published counts; the
fixtures' README lists the checks.
"""

from __future__ import annotations

from dataclasses import dataclass

# model_types whose q/k/v projections carry a bias
_QKV_BIAS = {"qwen2", "qwen2_moe"}
# model_types with four norms per layer instead of two
_FOUR_NORMS = {"gemma2", "gemma3", "gemma3_text"}


@dataclass(frozen=True)
class ParamCount:
    total: int
    active: int
    linear: int
    """Parameters in quantizable linear layers (attention and MLP projections)."""


def _attention(cfg: dict, hidden: int, heads: int, kv_heads: int, head_dim: int) -> int:
    if cfg.get("kv_lora_rank"):
        nope = cfg.get("qk_nope_head_dim", head_dim)
        rope = cfg.get("qk_rope_head_dim", 0)
        v_dim = cfg.get("v_head_dim", head_dim)
        kv_rank = cfg["kv_lora_rank"]
        q_rank = cfg.get("q_lora_rank")
        q = hidden * heads * (nope + rope) if not q_rank else hidden * q_rank + q_rank + q_rank * heads * (nope + rope)
        kv = hidden * (kv_rank + rope) + kv_rank + kv_rank * heads * (nope + v_dim)
        return q + kv + heads * v_dim * hidden
    params = hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim + heads * head_dim * hidden
    if cfg.get("model_type") in _QKV_BIAS or cfg.get("attention_bias") or cfg.get("bias"):
        params += heads * head_dim + 2 * kv_heads * head_dim
    return params


def _mlp(hidden: int, intermediate: int) -> int:
    return 3 * hidden * intermediate  # gate, up, down


def ties_embeddings(cfg: dict) -> bool:
    """Whether lm_head shares the embedding matrix (Gemma configs default to yes)."""
    return bool(cfg.get("tie_word_embeddings", str(cfg.get("model_type", "")).startswith("gemma")))


def count_params(cfg: dict) -> ParamCount | None:
    """Total, per-token active and linear parameter counts; None when the config lacks the shape."""
    try:
        hidden = int(cfg["hidden_size"])
        layers = int(cfg["num_hidden_layers"])
        heads = int(cfg["num_attention_heads"])
        vocab = int(cfg["vocab_size"])
        intermediate = int(cfg.get("intermediate_size") or 4 * hidden)
    except (KeyError, TypeError, ValueError):
        return None
    if hidden <= 0 or layers <= 0 or heads <= 0 or vocab <= 0:
        return None
    kv_heads = int(cfg.get("num_key_value_heads") or heads)
    head_dim = int(cfg.get("head_dim") or hidden // heads)

    attn = _attention(cfg, hidden, heads, kv_heads, head_dim)
    norms = (4 if cfg.get("model_type") in _FOUR_NORMS else 2) * hidden

    experts = cfg.get("num_local_experts") or cfg.get("n_routed_experts") or cfg.get("num_experts") or 0
    top_k = cfg.get("num_experts_per_tok") or 0
    total_layers = active_layers = linear_layers = 0
    for index in range(layers):
        dense = not experts or index < int(cfg.get("first_k_dense_replace") or 0)
        if dense:
            mlp_total = mlp_active = _mlp(hidden, intermediate)
        else:
            expert_size = int(cfg.get("moe_intermediate_size") or intermediate)
            shared = int(cfg.get("n_shared_experts") or 0) * _mlp(hidden, expert_size)
            if cfg.get("shared_expert_intermediate_size"):
                shared += _mlp(hidden, int(cfg["shared_expert_intermediate_size"])) + hidden
            router = hidden * experts
            mlp_total = experts * _mlp(hidden, expert_size) + shared + router
            mlp_active = top_k * _mlp(hidden, expert_size) + shared + router
        total_layers += attn + mlp_total + norms
        active_layers += attn + mlp_active + norms
        linear_layers += attn + mlp_total
    embeddings = vocab * hidden * (1 if ties_embeddings(cfg) else 2)
    return ParamCount(
        total=total_layers + embeddings + hidden,
        active=active_layers + embeddings + hidden,
        linear=linear_layers,
    )

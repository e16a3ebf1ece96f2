"""Turn a transformers ``config.json`` into model facts (shape, dtype, quantization, MLA, MoE)."""

from __future__ import annotations

from typing import Any

from modeldeploy.catalog import load_catalog
from modeldeploy.schemas.model import MlaFacts, MoeFacts, Quantization
from modeldeploy.tools.model_inspect.param_count import count_params, ties_embeddings

# Multimodal wrappers keep the language model's shape in a nested config.
_NESTED_TEXT_CONFIGS = ("text_config", "language_config", "llm_config")
_QUANT_ALIASES = {"bitsandbytes": "bitsandbytes", "bnb": "bitsandbytes", "awq": "awq", "gptq": "gptq",
                  "fp8": "fp8", "compressed-tensors": "compressed-tensors", "compressed_tensors": "compressed-tensors"}



# The keys vLLM reads for a model's context (the smallest wins), in its order. Command-R's
# `model_max_length`, which vLLM lets override them, is left to the repair loop.
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "max_target_positions",
                "max_sequence_length", "max_seq_length", "seq_len")


def context_limit(cfg: dict[str, Any]) -> int | None:
    """The smallest positive integer among the context keys, as vLLM derives it."""
    values = [v for k in CONTEXT_KEYS if isinstance(v := cfg.get(k), int) and not isinstance(v, bool) and v > 0]
    return min(values) if values else None

def text_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The language-model part of a config (multimodal configs nest it)."""
    for key in _NESTED_TEXT_CONFIGS:
        nested = cfg.get(key)
        if isinstance(nested, dict) and nested.get("hidden_size"):
            merged = {**nested}
            for k in ("quantization_config", "torch_dtype", "dtype", "architectures", "auto_map"):
                merged.setdefault(k, cfg.get(k))
            return merged
    return cfg


def quantization_of(cfg: dict[str, Any]) -> Quantization | None:
    q = cfg.get("quantization_config")
    if not isinstance(q, dict):
        return None
    raw = str(q.get("quant_method") or ("bitsandbytes" if q.get("load_in_4bit") or q.get("load_in_8bit") else "")).lower()
    if not raw:
        return None
    method = _QUANT_ALIASES.get(raw, raw)
    bits = q.get("bits") or (4 if q.get("load_in_4bit") else 8 if q.get("load_in_8bit") or method == "fp8" else None)
    return Quantization(method=method, bits=bits, group_size=q.get("group_size"))


def config_facts(raw: dict[str, Any]) -> dict[str, Any]:
    """Facts for ModelFacts from a config dict; unknown or missing fields stay None."""
    cfg = text_config(raw)
    catalog = load_catalog()
    architectures = raw.get("architectures") or cfg.get("architectures") or []
    if isinstance(architectures, str):
        architectures = [architectures]
    if not isinstance(architectures, list) or not all(isinstance(a, str) for a in architectures):
        architectures = []
    family = cfg.get("model_type") or raw.get("model_type")
    heads = cfg.get("num_attention_heads")
    hidden = cfg.get("hidden_size")
    numeric = isinstance(hidden, int) and isinstance(heads, int) and heads > 0
    head_dim = cfg.get("head_dim") or (hidden // heads if numeric else None)
    experts = cfg.get("num_local_experts") or cfg.get("n_routed_experts") or cfg.get("num_experts")
    auto_map = bool(raw.get("auto_map"))
    count = count_params(cfg)
    facts: dict[str, Any] = {
        "architecture": architectures[0] if architectures else None,
        "family": family,
        "torch_dtype": raw.get("torch_dtype") or raw.get("dtype") or cfg.get("torch_dtype"),
        "quantization": quantization_of(raw) or quantization_of(cfg),
        "num_layers": cfg.get("num_hidden_layers"),
        "hidden_size": hidden,
        "intermediate_size": cfg.get("intermediate_size"),
        "num_attention_heads": heads,
        "num_kv_heads": cfg.get("num_key_value_heads") or heads,
        "head_dim": head_dim,
        "vocab_size": cfg.get("vocab_size"),
        "max_position_embeddings": context_limit(cfg),
        "rope_scaling": cfg.get("rope_scaling") if isinstance(cfg.get("rope_scaling"), dict) else None,
        "sliding_window": cfg.get("sliding_window") if cfg.get("use_sliding_window", True) is not False else None,
        "tie_word_embeddings": ties_embeddings(cfg),
        "auto_map": auto_map,
        "trust_remote_code": auto_map and family not in catalog.families.native_model_types,
        "param_count": count.total if count else None,
        "active_param_count": count.active if count and experts else None,
    }
    if cfg.get("kv_lora_rank"):
        facts["mla"] = MlaFacts(
            kv_lora_rank=cfg["kv_lora_rank"],
            qk_rope_head_dim=cfg.get("qk_rope_head_dim") or 0,
            qk_nope_head_dim=cfg.get("qk_nope_head_dim"),
            v_head_dim=cfg.get("v_head_dim"),
            q_lora_rank=cfg.get("q_lora_rank"),
        )
    if experts:
        facts["moe"] = MoeFacts(
            num_experts=experts,
            experts_per_token=cfg.get("num_experts_per_tok") or 1,
            shared_experts=cfg.get("n_shared_experts") or (1 if cfg.get("shared_expert_intermediate_size") else 0),
            expert_intermediate_size=cfg.get("moe_intermediate_size") or cfg.get("intermediate_size"),
        )
    return facts


def linear_param_count(raw: dict[str, Any]) -> int | None:
    """Parameters in quantizable linear layers (for quantized weight-size estimates)."""
    count = count_params(text_config(raw))
    return count.linear if count else None

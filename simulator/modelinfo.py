"""What the simulator knows about a model: its config.json (or GGUF header) and weight files.

No weights are read: only config.json, `model.safetensors.index.json`, the
safetensors headers (to spot truncated downloads) and GGUF metadata. A model
directory without weight files is served as if its weights were there, so that
the config.json fixtures of big models can be "deployed".

The parameter count follows the standard per-architecture formula (dense,
MoE, MLA), the same arithmetic as the planner's, kept self-contained here.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass, field

GIB = 1024**3

# keys vLLM reads the context length from (the smallest one present wins)
_MAX_LEN_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "max_sequence_length",
                 "max_seq_length", "seq_len")
_QKV_BIAS = {"qwen2", "qwen2_moe"}
_FOUR_NORMS = {"gemma2", "gemma3", "gemma3_text"}


class ModelLoadError(Exception):
    """The model path cannot be loaded: `kind` is missing, no_config, bad_config, not_gguf or bad_gguf."""

    def __init__(self, kind: str, path: str, detail: str = ""):
        super().__init__(f"{kind}: {path} {detail}".strip())
        self.kind = kind
        self.path = path
        self.detail = detail


@dataclass
class ModelInfo:
    path: str
    kind: str                                  # "hf" or "gguf"
    config: dict = field(default_factory=dict)
    architectures: list[str] = field(default_factory=list)
    model_type: str = ""
    hidden_size: int = 0
    num_layers: int = 0
    num_heads: int = 0
    num_kv_heads: int = 0
    head_dim: int = 0
    intermediate_size: int = 0
    vocab_size: int = 32000
    max_position_embeddings: int | None = None
    torch_dtype: str = "float16"
    quant_method: str | None = None
    quant_bits: int = 16
    quant_group: int = 128
    params: int = 0
    linear_params: int = 0
    mla: tuple[int, int] | None = None         # (kv_lora_rank, qk_rope_head_dim)
    has_auto_map: bool = False
    weight_files: list[str] = field(default_factory=list)
    index_shards: int = 0
    file_bytes: int = 0                        # GGUF file size
    gguf_meta: dict = field(default_factory=dict)

    @property
    def architecture(self) -> str:
        return self.architectures[0] if self.architectures else ""

    @property
    def tie_embeddings(self) -> bool:
        return bool(self.config.get("tie_word_embeddings", self.model_type.startswith("gemma")))


def _text_config(cfg: dict) -> dict:
    inner = cfg.get("text_config")
    return {**cfg, **inner} if isinstance(inner, dict) else cfg


def count_params(cfg: dict) -> tuple[int, int]:
    """(total parameters, parameters in linear layers) from a transformers config; (0, 0) if unknown."""
    cfg = _text_config(cfg)
    try:
        hidden = int(cfg["hidden_size"])
        layers = int(cfg["num_hidden_layers"])
        heads = int(cfg["num_attention_heads"])
        vocab = int(cfg["vocab_size"])
        intermediate = int(cfg.get("intermediate_size") or 4 * hidden)
    except (KeyError, TypeError, ValueError):
        return 0, 0
    kv_heads = int(cfg.get("num_key_value_heads") or heads)
    head_dim = int(cfg.get("head_dim") or hidden // max(heads, 1))
    if cfg.get("kv_lora_rank"):
        nope = int(cfg.get("qk_nope_head_dim") or head_dim)
        rope = int(cfg.get("qk_rope_head_dim") or 0)
        v_dim = int(cfg.get("v_head_dim") or head_dim)
        kv_rank = int(cfg["kv_lora_rank"])
        q_rank = cfg.get("q_lora_rank")
        q = hidden * heads * (nope + rope) if not q_rank else hidden * q_rank + q_rank + q_rank * heads * (nope + rope)
        attn = q + hidden * (kv_rank + rope) + kv_rank + kv_rank * heads * (nope + v_dim) + heads * v_dim * hidden
    else:
        attn = 2 * hidden * heads * head_dim + 2 * hidden * kv_heads * head_dim
        if cfg.get("model_type") in _QKV_BIAS or cfg.get("attention_bias") or cfg.get("bias"):
            attn += heads * head_dim + 2 * kv_heads * head_dim
    norms = (4 if cfg.get("model_type") in _FOUR_NORMS else 2) * hidden
    experts = int(cfg.get("num_local_experts") or cfg.get("n_routed_experts") or cfg.get("num_experts") or 0)
    total = linear = 0
    for index in range(layers):
        if not experts or index < int(cfg.get("first_k_dense_replace") or 0):
            mlp = 3 * hidden * intermediate
            extra = 0
        else:
            expert = int(cfg.get("moe_intermediate_size") or intermediate)
            mlp = experts * 3 * hidden * expert + int(cfg.get("n_shared_experts") or 0) * 3 * hidden * expert
            if cfg.get("shared_expert_intermediate_size"):
                mlp += 3 * hidden * int(cfg["shared_expert_intermediate_size"])
            extra = hidden * experts  # router
        total += attn + mlp + extra + norms
        linear += attn + mlp
    tied = bool(cfg.get("tie_word_embeddings", str(cfg.get("model_type", "")).startswith("gemma")))
    total += vocab * hidden * (1 if tied else 2) + hidden
    return total, linear


def derived_max_len(cfg: dict) -> tuple[float | int | None, str]:
    """vLLM's derived max_model_len: the smallest length key, scaled by rope_scaling; and the key's name."""
    cfg = _text_config(cfg)
    found = [(int(cfg[k]), k) for k in _MAX_LEN_KEYS if isinstance(cfg.get(k), (int, float)) and cfg.get(k)]
    if not found:
        return None, "max_position_embeddings"
    length, key = min(found)
    value: float | int = length
    scaling = cfg.get("rope_scaling")
    if isinstance(scaling, dict):
        rope_type = scaling.get("rope_type") or scaling.get("type") or ""
        if rope_type not in ("su", "longrope", "llama3", "mrope", "default"):
            factor = scaling.get("factor") or 1.0
            if rope_type == "yarn" and scaling.get("original_max_position_embeddings"):
                value = int(scaling["original_max_position_embeddings"])
            value = value * float(factor)
    return value, key


def _quantization(cfg: dict) -> tuple[str | None, int, int]:
    q = cfg.get("quantization_config")
    if not isinstance(q, dict):
        return None, 16, 128
    method = str(q.get("quant_method") or "").lower() or None
    bits = int(q.get("bits") or q.get("w_bit") or (8 if method == "fp8" else 4))
    group = int(q.get("group_size") or q.get("q_group_size") or 128)
    if group <= 0:
        group = 128
    return method, bits, group


def load_hf(path: str) -> ModelInfo:
    """Facts from a model directory holding a config.json."""
    if not os.path.isdir(path):
        raise ModelLoadError("missing", path)
    config_path = os.path.join(path, "config.json")
    if not os.path.isfile(config_path):
        raise ModelLoadError("no_config", path)
    try:
        with open(config_path, encoding="utf-8") as fh:
            cfg = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError("bad_config", path, str(exc)) from None
    if not isinstance(cfg, dict):
        raise ModelLoadError("bad_config", path, "config.json is not a JSON object")
    text = _text_config(cfg)
    heads = int(text.get("num_attention_heads") or 0)
    hidden = int(text.get("hidden_size") or 0)
    params, linear = count_params(cfg)
    method, bits, group = _quantization(cfg)
    mla = None
    if text.get("kv_lora_rank"):
        mla = (int(text["kv_lora_rank"]), int(text.get("qk_rope_head_dim") or 0))
    max_pos, _key = derived_max_len({k: v for k, v in cfg.items() if k != "rope_scaling"})
    info = ModelInfo(
        path=path, kind="hf", config=cfg,
        architectures=[str(a) for a in (cfg.get("architectures") or [])],
        model_type=str(cfg.get("model_type") or ""),
        hidden_size=hidden, num_layers=int(text.get("num_hidden_layers") or 0), num_heads=heads,
        num_kv_heads=int(text.get("num_key_value_heads") or heads),
        head_dim=int(text.get("head_dim") or (hidden // heads if heads else 0)),
        intermediate_size=int(text.get("intermediate_size") or 4 * hidden),
        vocab_size=int(text.get("vocab_size") or 32000),
        max_position_embeddings=int(max_pos) if max_pos else None,
        torch_dtype=str(cfg.get("torch_dtype") or cfg.get("dtype") or text.get("torch_dtype") or "float32"),
        quant_method=method, quant_bits=bits, quant_group=group, params=params, linear_params=linear, mla=mla,
        has_auto_map=isinstance(cfg.get("auto_map"), dict) and bool(cfg.get("auto_map")),
    )
    try:
        names = sorted(os.listdir(path))
    except OSError:
        names = []
    info.weight_files = [os.path.join(path, n) for n in names if n.endswith(".safetensors")]
    index = os.path.join(path, "model.safetensors.index.json")
    if os.path.isfile(index):
        try:
            with open(index, encoding="utf-8") as fh:
                weight_map = json.load(fh).get("weight_map") or {}
            info.index_shards = len(set(weight_map.values()))
        except (OSError, ValueError, AttributeError):
            info.index_shards = 0
    return info


def shard_count(info: ModelInfo, weight_bytes: int) -> int:
    """How many checkpoint shards loading shows: the index's, the files present, else ~5 GB shards."""
    if info.index_shards:
        return info.index_shards
    if info.weight_files:
        return len(info.weight_files)
    return max(1, math.ceil(weight_bytes / 5e9))


def check_safetensors(path: str) -> str | None:
    """None when the file's header and size agree; else the safetensors error name (truncated download)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                return "HeaderTooSmall"
            (n,) = struct.unpack("<Q", head)
            if n > 100_000_000:
                return "HeaderTooLarge"
            if 8 + n > size:
                return "MetadataIncompleteBuffer"
            header = json.loads(fh.read(n).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return "InvalidHeaderDeserialization"
    if not isinstance(header, dict):
        return "InvalidHeaderDeserialization"
    end = 0
    for name, entry in header.items():
        if name == "__metadata__" or not isinstance(entry, dict):
            continue
        offsets = entry.get("data_offsets") or [0, 0]
        end = max(end, int(offsets[1]))
    if 8 + n + end != size:
        return "MetadataIncompleteBuffer"
    return None


# ---- GGUF -------------------------------------------------------------------------------------------

_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class _Reader:
    def __init__(self, fh):
        self.fh = fh

    def read(self, n: int) -> bytes:
        data = self.fh.read(n)
        if len(data) != n:
            raise EOFError("truncated GGUF header")
        return data

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.unpack("<Q")
        if n > 1 << 24:
            raise ValueError("GGUF string too long")
        return self.read(n).decode("utf-8", "replace")

    def value(self, vtype: int, keep: bool = True):
        if vtype in _GGUF_SCALARS:
            return self.unpack(_GGUF_SCALARS[vtype])
        if vtype == 8:
            return self.string()
        if vtype == 9:
            item_type = self.unpack("<I")
            count = self.unpack("<Q")
            if item_type in _GGUF_SCALARS and not keep:
                self.fh.seek(count * struct.calcsize(_GGUF_SCALARS[item_type]), os.SEEK_CUR)
                return None
            items = [self.value(item_type, keep) for _ in range(count)]
            return items if keep else None
        raise ValueError(f"unknown GGUF value type {vtype}")


def read_gguf_metadata(path: str) -> dict:
    """The key/value metadata of a GGUF file (arrays other than small ones are skipped)."""
    with open(path, "rb") as fh:
        r = _Reader(fh)
        if r.read(4) != b"GGUF":
            raise ValueError("invalid magic characters")
        version = r.unpack("<I")
        if version == 1:
            raise ValueError("GGUFv1 is no longer supported")
        r.unpack("<Q")  # tensor count
        kv_count = r.unpack("<Q")
        meta: dict = {"__version__": version}
        for _ in range(kv_count):
            key = r.string()
            vtype = r.unpack("<I")
            keep = not key.startswith("tokenizer.ggml.")
            meta[key] = r.value(vtype, keep)
    return meta


def load_gguf(path: str) -> ModelInfo:
    if not os.path.exists(path):
        raise ModelLoadError("missing", path)
    if os.path.isdir(path):
        raise ModelLoadError("not_gguf", path, "is a directory")
    try:
        meta = read_gguf_metadata(path)
    except (OSError, EOFError, ValueError, struct.error) as exc:
        raise ModelLoadError("bad_gguf", path, str(exc)) from None
    arch = str(meta.get("general.architecture") or "")

    def key(name: str, default: int = 0) -> int:
        value = meta.get(f"{arch}.{name}")
        return int(value) if isinstance(value, (int, float)) else default

    heads = key("attention.head_count")
    hidden = key("embedding_length")
    return ModelInfo(
        path=path, kind="gguf", architectures=[arch], model_type=arch, hidden_size=hidden,
        num_layers=key("block_count"), num_heads=heads, num_kv_heads=key("attention.head_count_kv", heads),
        head_dim=hidden // heads if heads else 0, intermediate_size=key("feed_forward_length"),
        max_position_embeddings=key("context_length") or None, torch_dtype="float16",
        file_bytes=os.path.getsize(path), gguf_meta=meta,
    )

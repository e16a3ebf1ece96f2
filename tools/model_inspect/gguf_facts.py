"""Model facts from a GGUF file's header, through the ``gguf`` package's reader (memory-mapped)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modeldeploy.errors import UserInputError
from modeldeploy.schemas.model import Quantization


def _field(reader: Any, key: str) -> Any:
    f = reader.fields.get(key)
    if f is None:
        return None
    try:
        return f.contents()
    except (ValueError, IndexError, TypeError):
        return None


def gguf_facts(path: Path) -> dict[str, Any]:
    """Architecture, shape, context, quantization type and sizes of a GGUF file."""
    import gguf

    try:
        reader = gguf.GGUFReader(str(path), "r")
    except Exception as exc:  # the reader raises ValueError, struct.error, OSError... on junk
        raise UserInputError(f"{path.name}: not a readable GGUF file ({exc.__class__.__name__})") from None
    arch = _field(reader, "general.architecture") or "unknown"
    file_type = _field(reader, "general.file_type")
    try:
        file_type_name = gguf.LlamaFileType(int(file_type)).name if file_type is not None else None
    except ValueError:
        file_type_name = f"type {file_type}"
    heads = _field(reader, f"{arch}.attention.head_count")
    embd = _field(reader, f"{arch}.embedding_length")
    key_len = _field(reader, f"{arch}.attention.key_length")
    numel = sum(int(t.n_elements) for t in reader.tensors)
    nbytes = sum(int(t.n_bytes) for t in reader.tensors)
    return {
        "architecture": arch,
        "family": arch,
        "name_hint": _field(reader, "general.name"),
        "num_layers": _field(reader, f"{arch}.block_count"),
        "hidden_size": embd,
        "intermediate_size": _field(reader, f"{arch}.feed_forward_length"),
        "num_attention_heads": heads,
        "num_kv_heads": _field(reader, f"{arch}.attention.head_count_kv") or heads,
        "head_dim": key_len or (embd // heads if embd and heads else None),
        "max_position_embeddings": _field(reader, f"{arch}.context_length"),
        "vocab_size": len(reader.fields["tokenizer.ggml.tokens"].data) if "tokenizer.ggml.tokens" in reader.fields else None,
        "has_chat_template": "tokenizer.chat_template" in reader.fields,
        "param_count": numel,
        "weight_bytes": nbytes,
        "quantization": Quantization(method="gguf", detail=file_type_name),
        "expert_count": _field(reader, f"{arch}.expert_count"),
        "expert_used_count": _field(reader, f"{arch}.expert_used_count"),
    }

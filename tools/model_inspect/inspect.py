"""Inspect a model reference into ModelFacts: one entry point for dirs, GGUF files and hub ids."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from modeldeploy.errors import UserInputError
from modeldeploy.schemas.model import ModelFacts, MoeFacts, Quantization
from modeldeploy.tools.model_inspect.config_facts import config_facts, linear_param_count
from modeldeploy.tools.model_inspect.gguf_facts import gguf_facts
from modeldeploy.tools.model_inspect.hub import fetch_metadata
from modeldeploy.tools.model_inspect.readme_notes import deploy_notes
from modeldeploy.tools.model_inspect.safetensors_header import read_headers
from modeldeploy.tools.model_inspect.source import resolve_source

_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float8_e4m3fn": 1}
_MAX_JSON = 50 * 1024 * 1024


def _read_json(path: Path) -> dict[str, Any]:
    if path.stat().st_size > _MAX_JSON:
        raise UserInputError(f"{path.name}: too large to be a config file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        line = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise UserInputError(f"{path}: malformed JSON{line}") from None
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a JSON object")
    return data


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:64] or "model"


def _quantized_bytes(raw: dict[str, Any], params: int, quant: Quantization) -> int:
    """Stored size of a quantized checkpoint: packed linear weights plus group scales, the rest in 16 bit."""
    linear = linear_param_count(raw) or int(params * 0.9)
    bits = quant.bits or 4
    group = quant.group_size if quant.group_size and quant.group_size > 0 else 128
    if quant.method == "fp8":
        per_weight_bits = 8.0
    else:
        per_weight_bits = bits + (16 + bits) / group  # fp16 scale and packed zero per group
    return int(linear * per_weight_bits / 8 + (params - linear) * 2)


def _from_directory(directory: Path, facts: dict[str, Any]) -> None:
    config_path = directory / "config.json"
    if not config_path.is_file():
        ggufs = sorted(directory.glob("*.gguf"))
        if ggufs:
            facts.update(_from_gguf(ggufs[0]))
            facts["weight_files"] = [p.name for p in ggufs]
            return
        raise UserInputError(f"{directory}: no config.json (not a transformers model directory)")
    raw = _read_json(config_path)
    facts.update(config_facts(raw))
    if not facts.get("num_layers") or not facts.get("num_attention_heads"):
        raise UserInputError(f"{config_path}: lacks num_hidden_layers/num_attention_heads; cannot plan")

    safetensors = sorted(p.name for p in directory.glob("*.safetensors"))
    bins = sorted(p.name for p in directory.glob("*.bin") if p.name.startswith("pytorch_model"))
    index = next((p for p in (directory / "model.safetensors.index.json", directory / "pytorch_model.bin.index.json") if p.is_file()), None)
    facts["format"] = "safetensors" if safetensors or (index and index.name.startswith("model.safetensors")) else "bin" if bins or index else "safetensors"
    facts["weight_files"] = safetensors or bins
    if index:
        metadata = _read_json(index).get("metadata")
        total = metadata.get("total_size") if isinstance(metadata, dict) else None
        if isinstance(total, (int, float)) and total > 0:
            facts["weight_bytes"], facts["weight_bytes_source"] = int(total), "index"
    if safetensors:
        summary = read_headers([directory / name for name in safetensors])
        facts["weight_bytes"], facts["weight_bytes_source"] = summary.bytes, "headers"
        if not facts.get("quantization"):
            facts["param_count"] = summary.numel
    if not facts.get("weight_bytes") and facts.get("param_count"):
        quant = facts.get("quantization")
        if quant:
            facts["weight_bytes"] = _quantized_bytes(raw, facts["param_count"], quant)
        else:
            facts["weight_bytes"] = facts["param_count"] * _DTYPE_BYTES.get(str(facts.get("torch_dtype")), 2)
        facts["weight_bytes_source"] = "config"

    tok_cfg = directory / "tokenizer_config.json"
    facts["has_chat_template"] = (directory / "chat_template.jinja").is_file() or (
        tok_cfg.is_file() and bool(_read_json(tok_cfg).get("chat_template"))
    )
    readme = directory / "README.md"
    if readme.is_file() and readme.stat().st_size < 2_000_000:
        facts["deploy_notes"] = deploy_notes(readme.read_text(encoding="utf-8", errors="replace"))


def _from_gguf(path: Path) -> dict[str, Any]:
    g = gguf_facts(path)
    facts = {k: v for k, v in g.items() if k not in ("name_hint", "expert_count", "expert_used_count")}
    facts.update(format="gguf", weight_bytes_source="gguf", weight_files=[path.name])
    if g.get("expert_count"):
        facts["moe"] = MoeFacts(num_experts=g["expert_count"], experts_per_token=g.get("expert_used_count") or 1)
    return facts


def inspect_model(ref: str, revision: str | None = None) -> ModelFacts:
    """Facts about the model at `ref` (local dir, .gguf file or hub id), reading only metadata."""
    source = resolve_source(ref, revision)
    facts: dict[str, Any] = {}
    if source.kind == "gguf_file":
        path = Path(source.path)
        facts.update(_from_gguf(path))
        name = path.stem
    elif source.kind == "local_dir":
        _from_directory(Path(source.path), facts)
        name = Path(source.path).name
    else:
        snapshot = fetch_metadata(source.repo_id, revision)
        source.path = str(snapshot)
        _from_directory(snapshot, facts)
        name = source.repo_id.split("/")[-1]
    warnings = []
    if facts.get("trust_remote_code"):
        warnings.append("the model ships custom code (auto_map): trust_remote_code needs a person's approval")
    if not facts.get("has_chat_template"):
        warnings.append("no chat template found: /v1/chat/completions may fail; use /v1/completions")
    try:
        return ModelFacts(source=source, name=_safe_name(name), warnings=warnings, **facts)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserInputError(f"{source.ref}: config field {'.'.join(map(str, err['loc']))}: {err['msg']}") from None

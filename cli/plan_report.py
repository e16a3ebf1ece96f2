"""The `plan` result: one JSON document (the documented contract) or a readable report."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def plan_document(state: dict[str, Any], thread_id: str) -> dict[str, Any]:
    """The `modeldeploy plan --json` document, built from the final graph state."""
    plan = state.get("plan") or {}
    decision = state.get("decision") or {}
    artifacts = state.get("artifacts") or {}
    slots = decision.get("slots") or {}
    feasible = bool(plan.get("feasible")) and bool(decision)
    chosen = next((c for c in plan.get("candidates", []) if c["framework"] == decision.get("framework")
                   and c["tensor_parallel_size"] == slots.get("tensor_parallel_size")), None)
    mem = (chosen or {}).get("memory") or {}
    model = state.get("model") or {}
    return {
        "feasible": feasible,
        "framework": decision.get("framework"),
        "framework_version": decision.get("framework_version"),
        "image": decision.get("image"),
        "tensor_parallel_size": slots.get("tensor_parallel_size"),
        "gpus": slots.get("gpus"),
        "dtype": slots.get("dtype"),
        "max_model_len": slots.get("max_model_len"),
        "quantization": slots.get("quantization"),
        "trust_remote_code": bool(slots.get("trust_remote_code", model.get("trust_remote_code", False))),
        "decided_by": decision.get("decided_by"),
        "rationale": decision.get("rationale"),
        "reasons": ([decision["rationale"]] + (chosen or {}).get("reasons", [])) if feasible else plan.get("reasons", []),
        "alternatives": plan.get("alternatives", []),
        "memory": {
            "weights_gib_per_gpu": mem.get("weights_gib_per_gpu"),
            "kv_cache_gib_per_gpu": mem.get("kv_cache_gib_per_gpu"),
            "kv_bytes_per_token": mem.get("kv_bytes_per_token"),
            "kv_tokens_per_gpu": mem.get("kv_tokens_per_gpu"),
            "arithmetic": mem.get("lines", []),
        },
        "candidates": plan.get("candidates", []),
        "rejected": plan.get("rejected", []),
        "manifests": artifacts.get("manifests", {}),
        "deployment_name": artifacts.get("deployment_name"),
        "run_spec": artifacts.get("run_spec"),
        "model": {k: model.get(k) for k in ("name", "architecture", "family", "param_count", "weight_bytes",
                                            "torch_dtype", "quantization", "max_position_embeddings", "warnings")},
        "hardware": state.get("hardware"),
        "usage": state.get("usage", []),
        "thread_id": thread_id,
    }


def print_plan(doc: dict[str, Any], console: Console) -> None:
    model = doc["model"]
    count = model.get("param_count") or 0
    params = f"{count / 1e9:.2f}B" if count >= 1e9 else f"{count / 1e6:.2f}M" if count else "?"
    console.print(f"[bold]{model['name']}[/] ({model['architecture']}, {params} params, {model['torch_dtype']})")
    if not doc["feasible"]:
        console.print("[bold red]Nothing fits.[/]")
        for reason in doc["reasons"][:6]:
            console.print(f"  - {reason}")
        if doc["alternatives"]:
            console.print("[bold]Nearest alternatives:[/]")
            for alt in doc["alternatives"]:
                console.print(f"  - {alt}")
        return
    console.print(f"[bold green]{doc['framework']}[/] {doc['image']}  TP={doc['tensor_parallel_size']}  "
                  f"{doc['dtype'] or doc['quantization']}  max_model_len={doc['max_model_len']}  "
                  f"(decided by {doc['decided_by']})")
    for line in doc["memory"]["arithmetic"]:
        console.print(f"  {line}")
    for reason in doc["reasons"]:
        console.print(f"  - {reason}")
    table = Table("framework", "TP", "dtype", "max_model_len", "fits", "KV GiB/dev", title="feasible candidates")
    for c in doc["candidates"][:8]:
        table.add_row(c["framework"], str(c["tensor_parallel_size"]), str(c["dtype"] or c["quantization"]),
                      str(c["max_model_len"]), str(c["max_model_len_limit"]), str((c.get("memory") or {}).get("kv_cache_gib_per_gpu")))
    console.print(table)
    for kind, path in doc["manifests"].items():
        console.print(f"  wrote {kind}: {path}")

"""Apply a diagnosis's slot changes to a decision, staying inside the plan; and the LLM's fix template.

A fix is a dict of LaunchSlots changes (plus optionally `framework`). It is
applied only when the result is still one of the plan's feasible shapes:
a tensor-parallel size one of the plan's candidates has, a context within
what that candidate's KV budget holds, a dtype the hardware supports.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from modeldeploy.schemas.decision import Decision, LaunchSlots
from modeldeploy.schemas.hardware import HardwareFacts
from modeldeploy.schemas.plan import Plan
from modeldeploy.tools.planning.decide import decision_from, slots_for

CATEGORIES = ("oom_or_kv_cache", "max_model_len_too_large", "unsupported_architecture", "trust_remote_code_required",
              "dtype_unsupported", "missing_or_corrupt_weights", "missing_tokenizer", "bad_argument", "port_in_use",
              "unsupported_head_dim_or_kernel", "model_not_found", "gpu_runtime_missing", "driver_too_old",
              "tensor_parallel_mismatch", "nccl_shm", "gated_model", "other")
FIXABLE_SLOTS = ("max_model_len", "dtype", "tensor_parallel_size", "gpu_memory_utilization", "enforce_eager",
                 "max_num_seqs", "kv_cache_dtype", "ipc_host", "trust_remote_code", "gpu_layers", "kv_cache_space_gib",
                 "extra_flags")
# Fixes that change how the run proceeds, not the launch slots: a new host port is chosen on every
# render, and download_weights verifies (and repairs) hub weights on every pass.
RUN_ACTIONS = ("host_port", "redownload", "startup_minutes")


class SlotChanges(BaseModel):
    """The slots a repair may change; null means unchanged."""

    max_model_len: int | None = Field(default=None, ge=256)
    dtype: Literal["float16", "bfloat16", "float32"] | None = None
    tensor_parallel_size: int | None = Field(default=None, ge=1, le=64)
    gpu_memory_utilization: float | None = Field(default=None, ge=0.5, le=0.98)
    enforce_eager: bool | None = None
    max_num_seqs: int | None = Field(default=None, ge=1, le=1024)
    kv_cache_dtype: Literal["auto", "fp8"] | None = None
    ipc_host: bool | None = None


class FixChoice(BaseModel):
    """Fill in the blanks: what category of failure, which slot changes fix it, or what a person must do."""

    category: Literal[CATEGORIES]  # type: ignore[valid-type]
    fix: SlotChanges | None = None
    action_for_human: str | None = Field(default=None, max_length=300)
    rationale: str = Field(max_length=600)


def changes_of(choice: FixChoice) -> dict[str, Any] | None:
    if choice.fix is None:
        return None
    changes = {k: v for k, v in choice.fix.model_dump().items() if v is not None}
    return changes or None


def apply_fix(decision: Decision, fix: dict[str, Any], plan: Plan, hw: HardwareFacts) -> tuple[Decision | None, str | None]:
    """(the repaired decision, None) or (None, why the fix does not fit the plan)."""
    if fix.get("model_variant"):
        return None, f"a quantized ({str(fix['model_variant']).upper()}) variant of the model is needed: deploy that checkpoint instead"
    unknown = set(fix) - set(FIXABLE_SLOTS) - set(RUN_ACTIONS) - {"framework", "image", "gpus"}
    if unknown:
        return None, f"cannot apply {sorted(unknown)}"
    if set(fix) <= set(RUN_ACTIONS):
        return decision, None
    framework = fix.get("framework", decision.framework)
    tp = int(fix.get("tensor_parallel_size", decision.slots.tensor_parallel_size))
    candidates = [c for c in plan.candidates if c.framework == framework]
    if not candidates:
        return None, f"the plan has no feasible {framework} candidate"
    base = next((c for c in candidates if c.tensor_parallel_size == tp), None)
    if base is None:
        return None, f"tensor_parallel_size {tp} is not feasible for {framework} (plan: {[c.tensor_parallel_size for c in candidates]})"
    same_shape = framework == decision.framework and tp == decision.slots.tensor_parallel_size
    slots: LaunchSlots = decision.slots if same_shape else slots_for(base)
    changes = {k: v for k, v in fix.items() if k in FIXABLE_SLOTS and k != "tensor_parallel_size"}
    if "extra_flags" in changes:
        from modeldeploy.catalog import load_catalog

        allowed = load_catalog().get(framework).allowed_extra_flags
        if any(f not in allowed for f in changes["extra_flags"]):
            return None, f"extra flags outside {framework}'s allow-list: {changes['extra_flags']}"
    if "max_model_len" in changes and changes["max_model_len"] > base.max_model_len_limit:
        changes["max_model_len"] = base.max_model_len_limit
    if changes.get("dtype") == "bfloat16" and hw.gpus and min(g.capability for g in hw.gpus) < (8, 0):
        return None, "bfloat16 needs compute capability >= 8.0"
    new_slots = slots.model_copy(update=changes)
    image = fix.get("image") or (decision.image if same_shape else base.image)
    if new_slots == decision.slots and same_shape and image == decision.image:
        return None, "the fix changes nothing"
    repaired = decision if same_shape else decision_from(base, decision.decided_by, decision.rationale)
    return repaired.model_copy(update={"slots": new_slots, "image": image}), None

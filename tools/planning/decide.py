"""Turn a ranked plan into a decision: the rules' choice, a verified recipe, or a validated LLM answer.

The LLM's answer is the `FrameworkChoice` template: it picks a feasible
candidate by index and fills a few bounded slots. `validate_choice` checks it
against the plan; nothing it says reaches a command line unchecked.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from modeldeploy.catalog import load_catalog
from modeldeploy.schemas.decision import Decision, DecidedBy, LaunchSlots
from modeldeploy.schemas.hardware import HardwareFacts
from modeldeploy.schemas.plan import Candidate, Plan
from modeldeploy.tools.planning import memory_math as mm

MIN_CONTEXT = 256


class FrameworkChoice(BaseModel):
    """Fill in the blanks: choose one feasible candidate and its bounded slot values."""

    candidate: int = Field(description="Index of one feasible candidate from the list.")
    max_model_len: int = Field(description="Context length; at most the candidate's `fits` value.")
    gpu_memory_utilization: float | None = Field(default=None, ge=0.5, le=0.98, description="Leave null for the default.")
    max_num_seqs: int | None = Field(default=None, ge=1, le=1024, description="Concurrent sequences; null for the default.")
    enforce_eager: bool = Field(default=False, description="Disable CUDA graphs (saves memory, costs speed).")
    kv_cache_dtype: Literal["auto", "fp8"] = "auto"
    extra_flags: list[str] = Field(default_factory=list, description="Only flags from the allowed list.")
    rationale: str = Field(max_length=600, description="Two sentences citing the facts used.")


def fp8_kv_ok(candidate: Candidate, hw: HardwareFacts) -> bool:
    return candidate.device == "cuda" and candidate.framework in ("vllm", "sglang") and bool(hw.gpus) and \
        min(g.capability for g in hw.gpus) >= (8, 9)


def slots_for(candidate: Candidate, max_model_len: int | None = None) -> LaunchSlots:
    """The rules' slot values for a candidate."""
    spec = load_catalog().get(candidate.framework)
    kv_space = None
    if candidate.device == "cpu" and candidate.memory:
        need = candidate.memory.kv_bytes_per_token * (max_model_len or candidate.max_model_len) * 4
        kv_space = max(1, min(mm.ceil_gib(need), int(candidate.memory.kv_cache_gib_per_gpu)))
    return LaunchSlots(
        tensor_parallel_size=candidate.tensor_parallel_size,
        gpus=candidate.gpus,
        gpu_layers=candidate.gpu_layers if candidate.gpu_layers is not None else (999 if candidate.device == "cuda" and candidate.framework == "llama.cpp" else None),
        dtype=candidate.dtype,
        max_model_len=max_model_len or candidate.max_model_len,
        quantization=candidate.quantization,
        gpu_memory_utilization=candidate.memory.memory_utilization if candidate.memory and candidate.device == "cuda" else None,
        kv_cache_dtype=candidate.kv_cache_dtype,
        kv_cache_space_gib=kv_space,
        trust_remote_code=candidate.trust_remote_code,
        ipc_host=candidate.gpus > 1,
        max_num_seqs=spec.memory.max_num_seqs if candidate.framework == "llama.cpp" else None,
    )


def decision_from(candidate: Candidate, decided_by: DecidedBy, rationale: str, slots: LaunchSlots | None = None,
                  **extra: object) -> Decision:
    return Decision(framework=candidate.framework, framework_version=candidate.framework_version, image=candidate.image,
                    device=candidate.device, slots=slots or slots_for(candidate), decided_by=decided_by,
                    rationale=rationale, **extra)


def rules_decision(plan: Plan, why: str = "") -> Decision:
    """The first feasible candidate: best-ranked framework, smallest TP that holds the required context."""
    best = plan.candidates[0]
    mem = best.memory
    text = (f"rules: {best.framework} is the best-ranked feasible framework; TP={best.tensor_parallel_size} is the smallest "
            f"that holds {plan.required_context} tokens; {best.dtype or best.quantization}; max_model_len {best.max_model_len}"
            + (f" ({mem.kv_cache_gib_per_gpu} GiB KV per device)" if mem else ""))
    return decision_from(best, "rules", text + (f". {why}" if why else ""))


def validate_choice(choice: FrameworkChoice, plan: Plan, hw: HardwareFacts) -> tuple[Decision | None, str | None]:
    """A Decision built from a valid answer, or the reason it is not valid."""
    if not 0 <= choice.candidate < len(plan.candidates):
        return None, f"candidate {choice.candidate} is not one of the feasible indexes 0..{len(plan.candidates) - 1}"
    cand = plan.candidates[choice.candidate]
    if choice.max_model_len > cand.max_model_len_limit:
        return None, f"max_model_len {choice.max_model_len} exceeds what fits for candidate {choice.candidate} ({cand.max_model_len_limit})"
    if choice.max_model_len < min(MIN_CONTEXT, cand.max_model_len):
        return None, f"max_model_len {choice.max_model_len} is below {MIN_CONTEXT}"
    allowed = load_catalog().get(cand.framework).allowed_extra_flags
    bad = [f for f in choice.extra_flags if f not in allowed]
    if bad:
        return None, f"extra flags not allowed for {cand.framework}: {', '.join(bad)}"
    if choice.kv_cache_dtype == "fp8" and not fp8_kv_ok(cand, hw):
        return None, "fp8 KV cache needs compute capability >= 8.9 and vLLM/SGLang"
    slots = slots_for(cand, choice.max_model_len)
    update = {"extra_flags": list(choice.extra_flags), "enforce_eager": choice.enforce_eager,
              "kv_cache_dtype": choice.kv_cache_dtype}
    if choice.gpu_memory_utilization is not None and cand.device == "cuda":
        if choice.gpu_memory_utilization > (cand.memory.memory_utilization if cand.memory else 0.9) + 0.05:
            return None, "gpu_memory_utilization raised more than 0.05 above the plan's; the arithmetic no longer holds"
        update["gpu_memory_utilization"] = choice.gpu_memory_utilization
    if choice.max_num_seqs is not None:
        update["max_num_seqs"] = choice.max_num_seqs
    return decision_from(cand, "llm", f"llm: {choice.rationale}", slots.model_copy(update=update)), None

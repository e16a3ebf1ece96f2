"""choose_framework, one of the two LLM nodes: user choice, a verified recipe, the LLM, or the rules.

Order: a framework the user forced; a verified recipe from the experience
library for this model on this hardware (no LLM call); the LLM filling the
`FrameworkChoice` template, validated against the plan and re-asked once;
the rules. Every outcome records who decided and why.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from langgraph.runtime import Runtime

from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployState
from modeldeploy.nodes.node_support import Step, dump, emit
from modeldeploy.prompts import prompt_hash, render
from modeldeploy.schemas.decision import Decision
from modeldeploy.schemas.plan import Plan
from modeldeploy.schemas.run import LlmUsage
from modeldeploy.tools.llm.chat_model import make_chat_model
from modeldeploy.tools.llm.structured import ask_structured
from modeldeploy.tools.llm.tokens import estimate_tokens
from modeldeploy.tools.planning.decide import (FrameworkChoice, decision_from, fp8_kv_ok, rules_decision, slots_for,
                                               validate_choice)
from modeldeploy.tools.planning.repair import FIXABLE_SLOTS

NODE = "choose_framework"


def _experience(state: DeployState, ctx: Context) -> tuple[dict | None, list[Any], str | None]:
    """(verified recipe, retrieved lessons, error) from the experience library; errors never abort planning."""
    try:
        from modeldeploy.experience_store import LessonScope, find_verified_recipe, open_database, retrieve_lessons

        vram = min((g.memory_total_mib for g in state.hardware.gpus), default=None)
        scope = LessonScope(family=state.model.family, framework=None, framework_version=None,
                            gpu_arch=state.hardware.gpu_arch(), vram_mib=vram)
        query = f"{state.model.family} {state.model.architecture} {state.hardware.summary()}"
        with open_database(ctx.database_url) as db:
            recipe = find_verified_recipe(db, state.model.source.key, state.hardware.fingerprint())
            return recipe, retrieve_lessons(db, scope, query=query, limit=5, token_budget=600), None
    except Exception as exc:  # a broken or unreachable database must not stop a deployment
        return None, [], f"experience library unavailable: {exc.__class__.__name__}: {str(exc)[:160]}"


def _from_recipe(recipe: dict, plan: Plan) -> Decision | None:
    """The recipe's framework/TP as a feasible candidate, with the slot values that worked, if they still fit."""
    config = recipe.get("config") or {}
    for cand in plan.candidates:
        if cand.framework == recipe.get("framework") and cand.tensor_parallel_size == config.get("tensor_parallel_size", 1):
            length = min(int(config.get("max_model_len") or cand.max_model_len), cand.max_model_len_limit)
            proven = {k: config[k] for k in FIXABLE_SLOTS if k in config and k not in ("max_model_len", "tensor_parallel_size")}
            slots = slots_for(cand, length).model_copy(update=proven)
            return decision_from(cand, "experience",
                                 f"experience: run {recipe.get('run_id')} served this model on this hardware with "
                                 f"{cand.framework} TP={cand.tensor_parallel_size}, {slots.dtype}, max_model_len {length}",
                                 slots)
    return None


def _lessons_of_run(ctx: Context, run_id: int) -> list[int]:
    """Lessons whose evidence is the recipe's run: following the recipe applies them."""
    from modeldeploy.experience_store import list_lessons, open_database

    with open_database(ctx.database_url) as db:
        lessons = list_lessons(db)
    return [lesson.id for lesson in lessons if run_id in (lesson.evidence_run_ids or []) and lesson.status != "retired"]


def _candidate_lines(state: DeployState) -> str:
    lines = []
    for i, c in enumerate(state.plan.candidates):
        mem = c.memory
        lines.append(f"{i}: {c.framework}, {c.image}, tp={c.tensor_parallel_size}, {c.dtype}, {c.quantization}, "
                     f"{c.max_model_len}, fits={c.max_model_len_limit}, kv={mem.kv_cache_gib_per_gpu if mem else '?'}, "
                     f"fp8_kv={'yes' if fp8_kv_ok(c, state.hardware) else 'no'}, {'; '.join(c.reasons)[:200]}")
    return "\n".join(lines)


def build_prompt(state: DeployState, lessons: list[Any]) -> str:
    from modeldeploy.catalog import load_catalog

    flags = sorted({f for c in state.plan.candidates for f in load_catalog().get(c.framework).allowed_extra_flags})
    req = state.request
    request = json.dumps({"max_model_len": req.max_model_len, "max_gpus": req.max_gpus, "runtime": req.runtime})
    return render(
        NODE,
        allowed_flags=", ".join(flags) or "(none)",
        model=state.model.summary(),
        hardware=state.hardware.summary(),
        request=request,
        candidates=_candidate_lines(state),
        deploy_notes=(state.model.deploy_notes or "(none)")[:1200],
        lessons="\n".join(lesson.render() for lesson in lessons) or "(none)",
    )


async def _ask_llm(llm: Any, state: DeployState, ctx: Context, lessons: list[Any],
                   runtime: Runtime) -> tuple[Decision | None, list[str], list[dict], int]:
    """(decision or None, rejected reasons, usage entries, prompt tokens)."""
    prompt = build_prompt(state, lessons)
    prompt_tokens = estimate_tokens(prompt)
    messages = [("system", "You fill in deployment templates for LLM inference servers."), ("human", prompt)]
    used = state.tokens_used()
    rejected: list[str] = []
    usage: list[dict] = []
    for attempt in range(2):
        if used + estimate_tokens("".join(t for _, t in messages)) > ctx.token_budget:
            rejected.append(f"token budget {ctx.token_budget} would be exceeded")
            break
        emit(runtime, NODE, "llm_call", f"asking the LLM (attempt {attempt + 1})", prompt_tokens=prompt_tokens,
             prompt_hash=prompt_hash(prompt))
        answer = await ask_structured(llm, FrameworkChoice, messages)
        used += answer.prompt_tokens + answer.completion_tokens
        usage.append(dump(LlmUsage(node=NODE, calls=1, prompt_tokens=answer.prompt_tokens,
                                   completion_tokens=answer.completion_tokens, estimated=answer.estimated,
                                   model=getattr(llm, "model_name", None) or type(llm).__name__)))
        if answer.parsed is not None:
            decision, error = validate_choice(answer.parsed, state.plan, state.hardware)
            if decision:
                return decision.model_copy(update={"llm_attempts": attempt + 1, "rejected_answers": rejected}), rejected, usage, prompt_tokens
        else:
            error = answer.error
        rejected.append(error)
        if answer.error and answer.error.startswith("LLM call failed"):
            break
        messages.append(("human", f"That answer was rejected: {error}. Answer again, following the rules."))
    return None, rejected, usage, prompt_tokens


async def choose_framework(state: DeployState, runtime: Runtime[Context]) -> dict:
    step = Step(runtime, NODE)
    ctx = runtime.context or Context()
    plan = state.plan

    # 1. The user forced a framework: the plan holds only its candidates.
    if state.request.framework:
        decision = decision_from(plan.candidates[0], "user", f"user asked for {state.request.framework}; "
                                 + rules_decision(plan).rationale.removeprefix("rules: "))
        return {"decision": dump(decision), "audit": [step.done("user's framework", framework=decision.framework)]}

    # 2. A verified recipe for this model on this hardware skips the LLM.
    recipe, lessons, exp_error = (await asyncio.to_thread(_experience, state, ctx)) if ctx.use_experience else (None, [], None)
    lesson_ids = [lesson.id for lesson in lessons]
    if recipe and (decision := _from_recipe(recipe, plan)):
        applied = await asyncio.to_thread(_lessons_of_run, ctx, recipe["run_id"])
        return {"decision": dump(decision.model_copy(update={"lessons_used": lesson_ids + applied})),
                "lessons_applied": applied,
                "audit": [step.done("verified recipe", recipe_run=recipe.get("run_id"), lessons_applied=applied)]}

    # 3. The LLM fills the template, validated; 4. otherwise the rules.
    llm = ctx.chat_model or make_chat_model(ctx.llm_model, ctx.llm_base_url)
    if llm is None:
        decision = rules_decision(plan, "No LLM is configured, so the rules decided")
        return {"decision": dump(decision.model_copy(update={"lessons_used": lesson_ids})),
                "audit": [step.done("rules (no LLM)", experience_error=exp_error)]}
    decision, rejected, usage, prompt_tokens = await _ask_llm(llm, state, ctx, lessons, runtime)
    if decision is None:
        decision = rules_decision(plan, "LLM answer rejected: " + "; ".join(rejected)).model_copy(
            update={"rejected_answers": rejected, "llm_attempts": len(usage)})
    decision = decision.model_copy(update={"lessons_used": lesson_ids, "prompt_tokens": prompt_tokens})
    return {"decision": dump(decision), "usage": usage, "audit": [step.done(
        f"decided by {decision.decided_by}", framework=decision.framework, prompt_tokens=prompt_tokens,
        llm_calls=len(usage), rejected=rejected, experience_error=exp_error)]}

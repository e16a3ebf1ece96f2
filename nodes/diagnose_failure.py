"""diagnose_failure, the second LLM node: read the failed attempt's log, find the cause, choose a fix.

Order: the log is digested to a token budget (the full log stays on disk);
known signatures resolve through the rules; a lesson of the experience library
for the same signature may supply the fix; only an unknown cause goes to the
LLM, which fills the `FixChoice` template, validated against the plan. A fix
loops back to render_manifest (the failed server is removed first), at most
`max_attempts` starts; `trust_remote_code` needs a person (an interrupt). A
cause no flag can fix ends the run with what a person must do.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployState
from modeldeploy.nodes.node_support import Step, dump, emit
from modeldeploy.prompts import prompt_hash, render
from modeldeploy.schemas.run import LlmUsage, Repair
from modeldeploy.schemas.text import FATAL_MAX_CHARS, elide_middle
from modeldeploy.tools.llm.chat_model import make_chat_model
from modeldeploy.tools.llm.structured import ask_structured
from modeldeploy.tools.llm.tokens import estimate_tokens
from modeldeploy.tools.planning.repair import CATEGORIES, FIXABLE_SLOTS, FixChoice, apply_fix, changes_of
from modeldeploy.tools.runtimes.process_runtime import runtime_for

NODE = "diagnose_failure"
DIGEST_BUDGET = 900


def signature_hash(template: str) -> str:
    return hashlib.sha256(template.encode()).hexdigest()[:32]


def _read_log(state: DeployState) -> str:
    """The whole log of the failed server (still present: cleanup has not run), else what the attempt kept."""
    last = state.attempts[-1]
    try:
        text = runtime_for(state.request.runtime).logs(state.artifacts.deployment_name, None)
    except Exception:  # the engine may be the thing that failed
        text = ""
    return text or last.log_tail or (last.error or "")


def _experience_fix(state: DeployState, ctx: Context, sig_hash: str) -> tuple[int | None, dict | None]:
    """A lesson with a fix for exactly this signature, in scope (lesson id, fix)."""
    try:
        from modeldeploy.experience_store import LessonScope, open_database, retrieve_lessons

        gpus = state.hardware.gpus
        scope = LessonScope(family=state.model.family, framework=state.decision.framework,
                            gpu_arch=state.hardware.gpu_arch(),
                            vram_mib=min((g.memory_total_mib for g in gpus), default=None))
        with open_database(ctx.database_url) as db:
            lessons = retrieve_lessons(db, scope, signature_hash=sig_hash, limit=3)
        for lesson in lessons:
            if lesson.signature_match and lesson.fix:
                return lesson.id, lesson.fix
    except Exception:  # the library is advisory: never let it stop a repair
        pass
    return None, None


async def _ask_llm(llm: Any, state: DeployState, ctx: Context, digest_text: str,
                   runtime: Runtime) -> tuple[FixChoice | None, list[dict], str | None]:
    d, plan = state.decision, state.plan
    prompt = render(
        NODE,
        categories=", ".join(CATEGORIES),
        slots=", ".join(FIXABLE_SLOTS),
        deployment=f"{state.model.summary()} on {state.hardware.summary()} with {d.framework} ({state.artifacts.image})",
        current=json.dumps({k: v for k, v in d.slots.model_dump().items() if v not in (None, [], False)}),
        candidates="; ".join(f"{c.framework} tp={c.tensor_parallel_size} {c.dtype} fits={c.max_model_len_limit}"
                             for c in plan.candidates[:6]),
        attempts="; ".join(f"#{r.attempt} {r.category} fix={r.fix}" for r in state.repairs) or "(none)",
        digest=digest_text,
        lessons="(none)",
    )
    if state.tokens_used() + estimate_tokens(prompt) > ctx.token_budget:
        return None, [], f"token budget {ctx.token_budget} would be exceeded"
    emit(runtime, NODE, "llm_call", "asking the LLM", prompt_tokens=estimate_tokens(prompt), prompt_hash=prompt_hash(prompt))
    answer = await ask_structured(llm, FixChoice, [("system", "You diagnose LLM inference server failures."),
                                                  ("human", prompt)])
    usage = [dump(LlmUsage(node=NODE, calls=1, prompt_tokens=answer.prompt_tokens, completion_tokens=answer.completion_tokens,
                           estimated=answer.estimated, model=getattr(llm, "model_name", None) or type(llm).__name__))]
    return answer.parsed, usage, answer.error


FRAMEWORK_CAUSES = ("unsupported_architecture", "unsupported_head_dim_or_kernel", "dtype_unsupported")


def _unforced_choice(state: DeployState) -> str | None:
    """The framework the planner would pick without the user's --framework, when it is another one."""
    from modeldeploy.tools.planning.planner import plan_deployment

    unforced = plan_deployment(state.model, state.hardware, state.request.model_copy(update={"framework": None}))
    return next((c.framework for c in unforced.candidates if c.framework != state.request.framework), None)


def _give_up(step: Step, repair: Repair, error: str, usage: list[dict]) -> Command:
    return Command(goto="cleanup", update={
        "repairs": [dump(repair)], "usage": usage, "error": error, "status": "failed",
        "audit": [step.done("gave up", "failed", error, category=repair.category, action_for_human=repair.action_for_human)]})


async def diagnose_failure(state: DeployState, runtime: Runtime[Context]) -> Command[Literal["render_manifest", "cleanup"]]:
    from modeldeploy.tools.diagnosis.rules import diagnose
    from modeldeploy.tools.logs.digest import digest_log

    step = Step(runtime, NODE)
    ctx = runtime.context or Context()
    number = len(state.attempts)

    # 1. Digest the full log to a budget; 2. the rules read the digest.
    log_text = await asyncio.to_thread(_read_log, state)
    digest = await asyncio.to_thread(digest_log, log_text, DIGEST_BUDGET)
    attempts = [{"signature": r.signature, "fix": r.fix, "category": r.category} for r in state.repairs]
    diag = diagnose(digest, slots=state.decision.slots, plan=state.plan, hardware=state.hardware, attempts=attempts,
                    model=state.model, decision=state.decision)
    fatal = elide_middle(diag.fatal or digest.fatal or "", FATAL_MAX_CHARS) or None
    sig_hash = signature_hash(diag.signature or (digest.groups[0].template if digest.groups else (fatal or "unknown")))
    repair = Repair(attempt=number, category=diag.category, signature=diag.signature, signature_hash=sig_hash,
                    fatal=fatal, fix=diag.fix, action_for_human=diag.action_for_human, decided_by="rules",
                    reason=diag.reason, digest_tokens=digest.tokens)
    usage: list[dict] = []

    # 3. A lesson for exactly this signature may know a fix the rules do not.
    if not repair.fix and not repair.action_for_human:
        lesson_id, fix = await asyncio.to_thread(_experience_fix, state, ctx, sig_hash)
        if fix:
            repair = repair.model_copy(update={"fix": fix, "decided_by": "experience", "lesson_id": lesson_id,
                                               "reason": f"lesson {lesson_id} fixed this signature before"})

    # 4. Only an unknown cause goes to the LLM.
    if not repair.fix and (not repair.action_for_human or repair.category == "other"):
        llm = ctx.chat_model or make_chat_model(ctx.llm_model, ctx.llm_base_url)
        if llm is not None:
            choice, usage, error = await _ask_llm(llm, state, ctx, digest.render(), runtime)
            if choice is not None:
                fix = changes_of(choice)
                repair = repair.model_copy(update={"category": choice.category, "fix": fix,
                                                   "action_for_human": None if fix else choice.action_for_human,
                                                   "decided_by": "llm",
                                                   "reason": f"llm: {choice.rationale}"})
            elif error:
                repair = repair.model_copy(update={"reason": f"{repair.reason} (LLM: {error})"})

    if not repair.fix and state.request.framework and repair.category in FRAMEWORK_CAUSES:
        if other := _unforced_choice(state):
            repair = repair.model_copy(update={"fix": {"framework": other}, "action_for_human": None})
    if repair.action_for_human or not repair.fix:
        action = repair.action_for_human or "read the log: no rule, lesson or LLM answer explains this failure"
        return _give_up(step, repair.model_copy(update={"action_for_human": action}),
                        f"{repair.category}: {fatal or 'no decisive line'}. A person must: {action}", usage)
    if number >= ctx.max_attempts:
        return _give_up(step, repair, f"still failing after {number} attempts ({repair.category}: {fatal})", usage)

    # 5. Running the model's own code needs a person, unless approved up front.
    if repair.fix.get("trust_remote_code") and not state.request.trust_remote_code_approved:
        answer = interrupt({"kind": "trust_remote_code", "question": "The model ships its own code: allow --trust-remote-code?",
                            "fatal": fatal, "deployment": state.artifacts.deployment_name,
                            "resume_with": {"approved": True, "by": "name"}})
        if not (isinstance(answer, dict) and answer.get("approved") is True):
            return _give_up(step, repair.model_copy(update={"action_for_human": "approve trust_remote_code"}),
                            "trust_remote_code was not approved", usage)

    other = repair.fix.get("framework")
    if other and state.request.framework and other != state.request.framework:
        # The user chose the framework: switching is theirs to decide.
        action = (f"{state.request.framework} cannot serve this model here ({repair.category}); deploy again with "
                  f"--framework {other}, or without --framework to let the planner choose")
        return _give_up(step, repair.model_copy(update={"action_for_human": action}),
                        f"{repair.category}: {fatal}. A person must: {action}", usage)
    repaired, why_not = apply_fix(state.decision, repair.fix, state.plan, state.hardware)
    if repaired is None:
        return _give_up(step, repair.model_copy(update={"action_for_human": f"the fix {repair.fix} does not fit: {why_not}"}),
                        f"{repair.category}: no applicable fix ({why_not})", usage)
    # The failed server goes before the next start (same name).
    await asyncio.to_thread(lambda: runtime_for(state.request.runtime).remove(state.artifacts.deployment_name))
    lessons = [repair.lesson_id] if repair.lesson_id else []
    return Command(goto="render_manifest", update={
        "decision": dump(repaired), "repairs": [dump(repair)], "usage": usage, "lessons_applied": lessons, "error": None,
        "audit": [step.done(f"repair by {repair.decided_by}: {repair.fix}", message=f"{repair.category}: {fatal}",
                            category=repair.category, signature=repair.signature, fix=repair.fix,
                            digest_tokens=digest.tokens)]})

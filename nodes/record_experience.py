"""record_experience: what this deployment teaches, written to the experience library.

- one `run` row (outcome, final config, metrics, log digest), every time;
- every failure signature seen is counted;
- a failure followed by a success after a fix, in this run, becomes a candidate lesson
  (the fix, scoped to the family, framework and GPU architecture); its text is ours,
  never copied from the log, so log text cannot become advice by itself;
- lessons this run acted on are strengthened when it succeeded and weakened when it failed.
"""

from __future__ import annotations

import asyncio

from langgraph.runtime import Runtime

from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployState
from modeldeploy.nodes.node_support import Step

NODE = "record_experience"


def _learn(db, state: DeployState, run_id: int) -> dict:
    """Signatures, candidate lessons and lesson outcomes of this run."""
    from modeldeploy.experience_store import add_lesson, apply_outcome, upsert_failure_signature

    for r in state.repairs:
        if r.signature_hash:
            upsert_failure_signature(db, r.signature_hash, (r.signature or r.fatal or r.category)[:500], r.category)
    learned = []
    succeeded = state.status == "ready"
    fixed = [r for r in state.repairs if r.fix and r.signature_hash]
    if succeeded and fixed:
        last = fixed[-1]
        gpus = state.hardware.gpus
        where = f"{gpus[0].name}" if gpus else "CPU"
        text = (f"{state.model.family} on {where} with {state.decision.framework}: "
                f"{last.category} ({last.signature or 'unrecognised error'}) was fixed by {last.fix}")
        lesson = add_lesson(db, kind="fix", text=text, family=state.model.family, framework=state.decision.framework,
                            gpu_arch=state.hardware.gpu_arch(), fix=last.fix, source="agent", origin="agent",
                            signature_hash=last.signature_hash, evidence_run_ids=[run_id])
        learned.append(lesson.id)
    for lesson_id in dict.fromkeys(state.lessons_applied):
        apply_outcome(db, lesson_id, helped=succeeded, run_id=run_id)
    return {"lessons_learned": learned, "lessons_updated": list(dict.fromkeys(state.lessons_applied))}


def _record(state: DeployState, ctx: Context) -> tuple[int, dict]:
    from modeldeploy.experience_store import open_database, record_run

    hw, m, d = state.hardware, state.model, state.decision
    gpu = hw.gpus[0] if hw.gpus else None
    smoke = state.smoke or {}
    last = state.attempts[-1] if state.attempts else None
    with open_database(ctx.database_url) as db:
        run_id = record_run(
            db,
            model_id=m.source.key, family=m.family, architecture=m.architecture, params=m.param_count,
            quantization=m.quantization.method if m.quantization else None,
            gpu_model=gpu.name if gpu else None, gpu_count=len(hw.gpus), gpu_vram_mib=gpu.memory_total_mib if gpu else None,
            driver_version=hw.driver_version, cuda_version=hw.cuda_driver_version, hardware_fingerprint=hw.fingerprint(),
            framework=d.framework if d else None,
            framework_version=state.artifacts.framework_version or (d.framework_version if d and state.request.runtime == "docker" else None),
            image=state.artifacts.image if state.request.runtime == "docker" else None, config=d.slots.model_dump(mode="json") if d else None,
            outcome="success" if state.status == "ready" else "aborted" if state.status == "rejected" else "failure",
            metrics={"smoke": {c["name"]: c["latency_ms"] for c in smoke.get("checks", [])},
                     "attempts": len(state.attempts), "error": state.error,
                     "repairs": [{"category": r.category, "signature": r.signature, "fix": r.fix} for r in state.repairs]},
            log_digest=(last.log_tail[-4000:] if last and last.log_tail else None),
            deployment_name=state.artifacts.deployment_name,
        )
        return run_id, _learn(db, state, run_id)


async def record_experience(state: DeployState, runtime: Runtime[Context]) -> dict:
    step = Step(runtime, NODE)
    ctx = runtime.context or Context()
    try:
        run_id, learned = await asyncio.to_thread(_record, state, ctx)
    except Exception as exc:  # the library must never turn a finished deployment into a failure
        return {"audit": [step.done("could not record the run", "failed", f"{exc.__class__.__name__}: {str(exc)[:160]}")]}
    return {"audit": [step.done(f"recorded run {run_id}", run_id=run_id, **learned)]}

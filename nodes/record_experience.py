"""record_experience: one run row per deployment in the experience library (outcome, config, metrics)."""

from __future__ import annotations

import asyncio

from langgraph.runtime import Runtime

from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployState
from modeldeploy.nodes.node_support import Step

NODE = "record_experience"


def _record(state: DeployState, ctx: Context) -> int:
    from modeldeploy.experience_store import open_database, record_run

    hw, m, d = state.hardware, state.model, state.decision
    gpu = hw.gpus[0] if hw.gpus else None
    smoke = state.smoke or {}
    last = state.attempts[-1] if state.attempts else None
    return record_run(
        open_database(ctx.database_url),
        model_id=m.source.key, family=m.family, architecture=m.architecture, params=m.param_count,
        quantization=m.quantization.method if m.quantization else None,
        gpu_model=gpu.name if gpu else None, gpu_count=len(hw.gpus), gpu_vram_mib=gpu.memory_total_mib if gpu else None,
        driver_version=hw.driver_version, cuda_version=hw.cuda_driver_version, hardware_fingerprint=hw.fingerprint(),
        framework=d.framework if d else None, framework_version=d.framework_version if d else None,
        image=state.artifacts.image, config=d.slots.model_dump(mode="json") if d else None,
        outcome="success" if state.status == "ready" else "aborted" if state.status == "rejected" else "failure",
        metrics={"smoke": {c["name"]: c["latency_ms"] for c in smoke.get("checks", [])},
                 "attempts": len(state.attempts), "error": state.error},
        log_digest=(last.log_tail[-4000:] if last and last.log_tail else None),
        deployment_name=state.artifacts.deployment_name,
    )


async def record_experience(state: DeployState, runtime: Runtime[Context]) -> dict:
    step = Step(runtime, NODE)
    ctx = runtime.context or Context()
    try:
        run_id = await asyncio.to_thread(_record, state, ctx)
    except Exception as exc:  # the library must never turn a finished deployment into a failure
        return {"audit": [step.done("could not record the run", "failed", f"{exc.__class__.__name__}: {str(exc)[:160]}")]}
    return {"audit": [step.done(f"recorded run {run_id}", run_id=run_id)]}

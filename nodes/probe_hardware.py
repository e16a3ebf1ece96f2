"""probe_hardware: the machine's GPUs, CPU, memory, disk and container engine (or the request's override)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from langgraph.runtime import Runtime

from modeldeploy import settings
from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployState
from modeldeploy.nodes.node_support import Step, dump
from modeldeploy.tools.hardware.probe import probe_hardware as probe


async def probe_hardware(state: DeployState, runtime: Runtime[Context]) -> dict:
    step = Step(runtime, "probe_hardware")
    if state.request.hardware is not None:
        hw = state.request.hardware
        return {"hardware": dump(hw), "audit": [step.done("hardware from request", summary=hw.summary())]}
    ctx = runtime.context or Context()
    weights_dir = Path(ctx.weights_dir) if ctx.weights_dir else settings.home_dir() / "models"
    hw = await asyncio.to_thread(probe, weights_dir, ctx.nvml, ctx.probe_engine)
    return {"hardware": dump(hw), "audit": [step.done("probed NVML, /proc, docker info", summary=hw.summary(),
                                                      gpus=len(hw.gpus))]}

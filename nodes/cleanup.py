"""cleanup: after any failure or rejection, remove what this deployment created (found by name and label)."""

from __future__ import annotations

import asyncio

from langgraph.runtime import Runtime

from modeldeploy.errors import ModelDeployError
from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployState
from modeldeploy.nodes.node_support import Step

NODE = "cleanup"


async def cleanup(state: DeployState, runtime: Runtime[Context]) -> dict:
    step = Step(runtime, NODE)
    name = state.artifacts.deployment_name
    if not name:
        return {"audit": [step.done("nothing to clean", "skipped")]}
    from modeldeploy.tools.runtimes.process_runtime import runtime_for

    try:
        rt = await asyncio.to_thread(runtime_for, state.request.runtime)
        removed = await asyncio.to_thread(rt.remove, name)
    except ModelDeployError as exc:  # e.g. the engine went away: say so, do not hide the original error
        return {"audit": [step.done(f"could not clean {name}", "failed", str(exc))]}
    return {"audit": [step.done(f"removed {removed} server(s) of {name}", removed=removed)]}

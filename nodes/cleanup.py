"""cleanup: after any failure or rejection, remove what this deployment created (found by name and label).

A server this run only reused, because an earlier run had deployed and registered it, stays.
"""

from __future__ import annotations

import asyncio

from langgraph.runtime import Runtime

from modeldeploy.errors import ModelDeployError
from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployState
from modeldeploy.nodes.node_support import Step

NODE = "cleanup"


def _registered_ready(name: str, database_url: str | None) -> bool:
    try:
        from modeldeploy.experience_store import get_deployment, open_database

        with open_database(database_url) as db:
            row = get_deployment(db, name)
    except ModelDeployError:
        return False
    return bool(row) and row["status"] == "ready"


async def cleanup(state: DeployState, runtime: Runtime[Context]) -> dict:
    step = Step(runtime, NODE)
    name = state.artifacts.deployment_name
    if not name:
        return {"audit": [step.done("nothing to clean", "skipped")]}
    from modeldeploy.tools.runtimes.process_runtime import runtime_for

    ctx = runtime.context or Context()
    reused = any(a.node == "start_container" and a.detail.get("reused") for a in state.audit)
    if reused and await asyncio.to_thread(_registered_ready, name, ctx.database_url):
        # This run found the server already serving, registered by an earlier run: it is not ours to remove.
        return {"audit": [step.done(f"kept {name}: it was serving and registered before this run", "skipped")]}
    try:
        rt = await asyncio.to_thread(runtime_for, state.request.runtime)
        removed = await asyncio.to_thread(rt.remove, name)
    except ModelDeployError as exc:  # e.g. the engine went away: say so, do not hide the original error
        return {"audit": [step.done(f"could not clean {name}", "failed", str(exc))]}
    return {"audit": [step.done(f"removed {removed} server(s) of {name}", removed=removed)]}

"""wait_ready: the server is ready when /v1/models lists the model and a one-token completion succeeds.

(A server whose /v1/models does not list the model it serves, transformers serve, is ready
when its health endpoint answers and the one-token completion succeeds.)

Meanwhile it follows the log (loading progress is streamed), notices a crash
(exit code and log tail kept for diagnosis) and gives up after a start-up
timeout that grows with the weight size.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Literal

import httpx
from langgraph.runtime import Runtime
from langgraph.types import Command

from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployState
from modeldeploy.nodes.node_support import Step, dump, emit
from modeldeploy.nodes.render_manifest import startup_minutes
from modeldeploy.schemas.run import Attempt
from modeldeploy.catalog import load_catalog
from modeldeploy.tools.endpoint.openai_client import healthy, one_token, served_models
from modeldeploy.tools.runtimes.process_runtime import runtime_for

NODE = "wait_ready"
LOG_TAIL_LINES = 80
_PROGRESS = re.compile(r"(Loading[^\n]*?(\d{1,3})%[^\n]*|\b(\d{1,3})% Completed[^\n]*)")


def startup_timeout_s(state: DeployState, ctx: Context) -> float:
    return ctx.startup_timeout_s or startup_minutes(state.model.weight_bytes) * 60.0


async def wait_ready(state: DeployState, runtime: Runtime[Context]) -> Command[Literal["smoke_test", "diagnose_failure"]]:
    step = Step(runtime, NODE)
    ctx = runtime.context or Context()
    name, base = state.artifacts.deployment_name, state.artifacts.endpoint
    served = state.artifacts.served_model_name
    readiness = load_catalog().get(state.decision.framework).readiness
    rt = await asyncio.to_thread(runtime_for, state.request.runtime)
    timeout = startup_timeout_s(state, ctx)
    started = time.monotonic()
    last_progress = ""
    outcome, exit_code, error = "timeout", None, f"not ready after {timeout:.0f} s"
    async with httpx.AsyncClient() as client:
        while time.monotonic() - started < timeout:
            server = await asyncio.to_thread(rt.state, name)
            if server.status not in ("running", "created", "restarting"):
                outcome, exit_code = "crashed", server.exit_code
                error = f"server exited with code {exit_code}" if exit_code is not None else f"server is {server.status}"
                break
            if served in await served_models(client, base) if readiness.lists_served_model \
                    else await healthy(client, base, readiness.health_path):
                ok, why = await one_token(client, base, served)
                if ok:
                    outcome, error = "ready", None
                    break
                emit(runtime, NODE, "progress", f"listed, but a one-token completion failed: {why}")
            tail = await asyncio.to_thread(rt.logs, name, 20)
            matches = _PROGRESS.findall(tail)
            if matches and matches[-1][0] != last_progress:
                last_progress = matches[-1][0]
                emit(runtime, NODE, "progress", last_progress.strip()[:160])
            await asyncio.sleep(ctx.poll_interval_s)
    log_tail = "" if outcome == "ready" else await asyncio.to_thread(rt.logs, name, LOG_TAIL_LINES)
    attempt = Attempt(number=len(state.attempts) + 1, runtime=state.request.runtime, container_id=state.artifacts.container_id,
                      outcome=outcome, exit_code=exit_code, error=error, log_tail=log_tail,
                      duration_s=round(time.monotonic() - started, 2), slots=state.decision.slots.model_dump(mode="json"))
    if outcome == "ready":
        return Command(goto="smoke_test", update={"attempts": [dump(attempt)], "audit": [step.done(
            "ready", message=f"{served} at {base}", seconds=attempt.duration_s)]})
    return Command(goto="diagnose_failure", update={"attempts": [dump(attempt)], "error": error,
                                           "audit": [step.done("not ready", "failed", error, exit_code=exit_code)]})

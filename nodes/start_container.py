"""start_container: start (or find and reuse) the deployment's server, from the rendered spec."""

from __future__ import annotations

import asyncio
from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from modeldeploy.errors import ModelDeployError
from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployState
from modeldeploy.nodes.node_support import Step, dump, fail
from modeldeploy.schemas.run import Attempt
from modeldeploy.tools.runtimes.ports import port_is_free
from modeldeploy.tools.runtimes.process_runtime import runtime_for

NODE = "start_container"
PORT_RETAKEN = "chosen port taken: choosing again"
MAX_PORT_RETRIES = 5


async def start_container(state: DeployState, runtime: Runtime[Context]) -> Command[Literal["wait_ready", "cleanup", "render_manifest"]]:
    """Start the server; a model that needs trust_remote_code waits for a person first."""
    # The model's own code runs in the server only with a person's yes (asked before anything starts).
    if state.decision.slots.trust_remote_code and not state.request.trust_remote_code_approved:
        answer = interrupt({"kind": "trust_remote_code", "deployment": state.artifacts.deployment_name,
                            "question": f"{state.model.name} ships its own code (auto_map): allow --trust-remote-code?",
                            "resume_with": {"approved": True, "by": "name"}})
        if not (isinstance(answer, dict) and answer.get("approved") is True):
            step = Step(runtime, NODE)
            return Command(goto="cleanup", update={**fail(step, "trust_remote_code refused", "trust_remote_code was not approved"),
                                                   "status": "rejected"})
    step = Step(runtime, NODE)
    kind = state.request.runtime
    spec = state.artifacts.run_spec if kind == "docker" else state.artifacts.process_spec
    name = state.artifacts.deployment_name
    number = len(state.attempts) + 1
    try:
        rt = await asyncio.to_thread(runtime_for, kind)
        existing = await asyncio.to_thread(rt.find, name)
        if existing.status != "running" and not await asyncio.to_thread(port_is_free, state.artifacts.host_port):
            retaken = sum(1 for a in state.audit if a.node == NODE and a.action == PORT_RETAKEN)
            if state.request.port is None and retaken < MAX_PORT_RETRIES:
                # We chose that port a moment ago and something took it since: render with another one.
                return Command(goto="render_manifest", update={"audit": [step.done(
                    PORT_RETAKEN, message=f"port {state.artifacts.host_port} was taken since it was chosen")]})
            raise ModelDeployError(f"port {state.artifacts.host_port} is taken on this host; choose another with --port")
        server, reused = await asyncio.to_thread(rt.start, spec)
    except ModelDeployError as exc:
        attempt = Attempt(number=number, runtime=kind, outcome="start_failed", error=str(exc))
        return Command(goto="cleanup", update={**fail(step, f"start {name}", str(exc)), "attempts": [dump(attempt)]})
    # A reused server keeps the port it was started with, whatever this run rendered.
    port = server.host_port if reused and server.host_port else state.artifacts.host_port
    endpoint = f"http://127.0.0.1:{port}/v1"
    artifacts = state.artifacts.model_copy(update={"container_id": server.id if kind == "docker" else None,
                                                   "endpoint": endpoint, "host_port": port})
    action = f"{'reused' if reused else 'started'} {kind} {name}"
    return Command(goto="wait_ready", update={"artifacts": dump(artifacts), "status": "deploying", "audit": [step.done(
        action, message=endpoint, id=server.id, reused=reused,
        argv=spec.get("command") or spec.get("argv"), image=spec.get("image"))]})

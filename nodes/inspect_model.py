"""inspect_model: facts from config.json, safetensors headers, the GGUF header and the README."""

from __future__ import annotations

import asyncio

from langgraph.runtime import Runtime

from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployState
from modeldeploy.nodes.node_support import Step, dump
from modeldeploy.tools.model_inspect.inspect import inspect_model as inspect


async def inspect_model(state: DeployState, runtime: Runtime[Context]) -> dict:
    step = Step(runtime, "inspect_model")
    facts = await asyncio.to_thread(inspect, state.request.model, state.request.revision)
    return {"model": dump(facts), "audit": [step.done(
        f"read {facts.source.kind} {facts.source.ref}", summary=facts.summary(),
        weight_bytes_source=facts.weight_bytes_source)]}

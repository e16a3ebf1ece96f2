"""smoke_test: chat and completion, streaming and not, usage present: this model starts and answers on this stack."""

from __future__ import annotations

from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployState
from modeldeploy.nodes.node_support import Step, dump
from modeldeploy.tools.endpoint.openai_client import server_version, smoke_test as run_smoke

NODE = "smoke_test"


async def smoke_test(state: DeployState, runtime: Runtime[Context]) -> Command[Literal["benchmark", "diagnose_failure"]]:
    step = Step(runtime, NODE)
    result = await run_smoke(state.artifacts.endpoint, state.artifacts.served_model_name)
    reported = await server_version(state.artifacts.endpoint)
    hw, decision = state.hardware, state.decision
    docker = state.request.runtime == "docker"
    result.stack = {
        "gpu": f"{len(hw.gpus)}x {hw.gpus[0].name}" if hw.gpus else f"CPU {hw.cpu.model}",
        "driver": hw.driver_version, "cuda": hw.cuda_driver_version, "framework": decision.framework,
        # what the server says it is beats the catalog's idea of the image
        "framework_version": reported or (decision.framework_version if docker else None),
        "image": state.artifacts.image if docker else None,
        "runtime": state.request.runtime, "dtype": decision.slots.dtype,
    }
    failed = [c.name for c in result.checks if not c.ok]
    if failed:
        error = "smoke test failed: " + "; ".join(f"{c.name}: {c.error}" for c in result.checks if not c.ok)
        return Command(goto="diagnose_failure", update={"smoke": dump(result), "error": error,
                                                        "audit": [step.done("smoke test", "failed", error)]})
    latency = {c.name: round(c.latency_ms, 1) for c in result.checks}
    artifacts = state.artifacts.model_copy(update={"framework_version": result.stack["framework_version"]})
    return Command(goto="benchmark", update={"smoke": dump(result), "artifacts": dump(artifacts), "audit": [step.done(
        "smoke test passed", message=", ".join(f"{k} {v} ms" for k, v in latency.items()), latency_ms=latency)]})

"""pull_image: the server image through the Docker SDK with per-layer progress; skipped when present."""

from __future__ import annotations

import asyncio
from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from modeldeploy.errors import ModelDeployError
from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployState
from modeldeploy.nodes.node_support import Step, emitter_for_threads, fail

NODE = "pull_image"


async def pull_image(state: DeployState, runtime: Runtime[Context]) -> Command[Literal["start_container", "cleanup"]]:
    step = Step(runtime, NODE)
    if state.request.runtime != "docker":
        return Command(goto="start_container", update={"audit": [step.done("no image for this runtime", "skipped")]})
    from modeldeploy.tools.runtimes.docker_runtime import DockerRuntime

    image = state.artifacts.image
    emit_from_thread = emitter_for_threads(runtime, NODE)
    layers: dict[str, dict] = {}

    def progress(event: dict) -> None:
        layers[event["layer"]] = event
        done = sum(e.get("current") or 0 for e in layers.values())
        total = sum(e.get("total") or 0 for e in layers.values())
        emit_from_thread("progress", f"{len(layers)} layers", image=image, layer=event["layer"],
                         status=event.get("status"), current=done, total=total)

    try:
        docker_rt = await asyncio.to_thread(DockerRuntime)
        if await asyncio.to_thread(docker_rt.has_image, image):
            return Command(goto="start_container", update={"audit": [step.done(f"image {image} present", "skipped")]})
        await asyncio.to_thread(docker_rt.pull, image, progress)
    except ModelDeployError as exc:
        return Command(goto="cleanup", update=fail(step, f"pull {image}", str(exc), image=image))
    return Command(goto="start_container", update={"audit": [step.done(f"pulled {image}", layers=len(layers))]})

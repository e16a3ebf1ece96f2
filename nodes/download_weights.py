"""download_weights: hub models through huggingface_hub (resumable, verified); local models are used in place."""

from __future__ import annotations

import asyncio
from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from modeldeploy.errors import ModelDeployError
from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployState
from modeldeploy.nodes.node_support import Step, emitter_for_threads, fail

NODE = "download_weights"


async def download_weights(state: DeployState, runtime: Runtime[Context]) -> Command[Literal["pull_image", "cleanup"]]:
    step = Step(runtime, NODE)
    source = state.model.source
    if source.kind != "hf_repo":
        return Command(goto="pull_image", update={"audit": [step.done("local weights used in place", "skipped",
                                                                        path=source.path)]})
    from modeldeploy.tools.weights.download import allow_patterns_for, download_weights as fetch, repo_files

    emit_from_thread = emitter_for_threads(runtime, NODE)

    def progress(event: dict) -> None:
        emit_from_thread("progress", **event)

    try:
        files = state.model.weight_files or await asyncio.to_thread(repo_files, source.repo_id, source.revision)
        chosen_gguf = state.model.weight_files[0] if state.model.format == "gguf" else None
        allow, ignore = allow_patterns_for(files, chosen_gguf, state.decision.slots.trust_remote_code)
        result = await asyncio.to_thread(fetch, source.repo_id, source.revision, state.artifacts.weights_dir,
                                         allow, ignore, progress)
    except ModelDeployError as exc:
        return Command(goto="cleanup", update=fail(step, f"download {source.repo_id}", str(exc)))
    return Command(goto="pull_image", update={"audit": [step.done(
        f"downloaded {source.repo_id}@{result.revision}", dest=result.dest_dir, bytes_downloaded=result.bytes_downloaded,
        bytes_reused=result.bytes_reused, endpoint=result.endpoint, files=len(result.files))]})

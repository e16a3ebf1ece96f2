"""register: record the deployment in the database and upsert it into the gateway (LiteLLM model_list)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from langgraph.runtime import Runtime

from modeldeploy import settings
from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployState
from modeldeploy.nodes.node_support import Step, dump
from modeldeploy.tools.gateway.litellm_config import upsert_model

NODE = "register"


def gateway_path(ctx: Context) -> Path:
    return Path(ctx.gateway_config).expanduser() if ctx.gateway_config else settings.home_dir() / "litellm_config.yaml"


def _register(state: DeployState, ctx: Context, thread_id: str | None) -> str:
    from modeldeploy.experience_store import open_database, upsert_deployment

    a, d = state.artifacts, state.decision
    with open_database(ctx.database_url) as db:
        upsert_deployment(db, name=a.deployment_name, status="ready",
                          model_id=state.model.source.key, served_model_name=a.served_model_name, framework=d.framework,
                          image=a.image if state.request.runtime == "docker" else None, runtime=state.request.runtime,
                          endpoint=a.endpoint, container_id=a.container_id, thread_id=thread_id,
                          config=d.slots.model_dump(mode="json"))
    path = gateway_path(ctx)
    public = state.request.served_model_name or state.model.source.repo_id or state.model.name
    upsert_model(path, a.deployment_name, a.served_model_name, a.endpoint, public_name=public)
    return str(path)


async def register(state: DeployState, runtime: Runtime[Context]) -> dict:
    step = Step(runtime, NODE)
    ctx = runtime.context or Context()
    thread_id = (getattr(runtime, "execution_info", None) and getattr(runtime.execution_info, "thread_id", None)) or None
    path = await asyncio.to_thread(_register, state, ctx, thread_id)
    artifacts = state.artifacts.model_copy(update={"gateway_config": path})
    return {"artifacts": dump(artifacts), "status": "ready",
            "audit": [step.done("registered", message=f"{state.artifacts.endpoint} -> {path}", gateway_config=path)]}

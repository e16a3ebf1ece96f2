"""Toolkit `deploy`: plan, deploy, approve, list and remove deployments, through the deployment graph.

The same runs as `modeldeploy plan/deploy/approve/ps/down`, with the same JSON
documents. Plan, deploy and approve run the graph in a worker thread; deploy and
approve report each node as MCP progress. Deployments use the credentials of the
user running the server: ~/.docker/config.json, HF_TOKEN or the HF cache login.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from mcp.server.fastmcp import Context
from pydantic import Field

from modeldeploy.mcp_server import graph_runs
from modeldeploy.mcp_server.progress import GraphProgress, ProgressRelay
from modeldeploy.mcp_server.registry import Toolkit, ToolSpec

Model = Annotated[str, Field(description="A local model directory or .gguf file (path on the server's machine), "
                                         "or a Hugging Face repo id (org/name).")]
Hardware = Annotated[str | None, Field(description="Path of a hardware JSON file (the `modeldeploy probe --json` "
                                                   "format) to plan for instead of probing this machine.")]
Framework = Annotated[str | None, Field(description="Force a framework: vllm, sglang, tgi, llama.cpp, transformers.")]
MaxModelLen = Annotated[int | None, Field(ge=16, description="Required context length in tokens.")]
MaxGpus = Annotated[int | None, Field(ge=1, description="Use at most this many GPUs.")]


async def plan_deployment(model: Model, ctx: Context, hardware: Hardware = None, framework: Framework = None,
                          max_gpus: MaxGpus = None, max_model_len: MaxModelLen = None,
                          revision: Annotated[str | None, Field(description="Hub revision (branch, tag, commit).")] = None,
                          out_dir: Annotated[str | None, Field(description="Write docker-run.json, compose.yaml and "
                                                                           "kubernetes.yaml into this directory.")] = None,
                          ) -> dict[str, Any]:
    """Plan a deployment without side effects: framework, image, tensor-parallel size, dtype, context length, with
    the memory arithmetic, the feasible candidates and the rejected ones (the `modeldeploy plan --json` document;
    `feasible` false means nothing fits, see `alternatives`)."""
    fields = {"model": model, "hardware": hardware, "framework": framework, "max_gpus": max_gpus,
              "max_model_len": max_model_len, "revision": revision}
    relay = ProgressRelay(ctx)
    return await relay.run(graph_runs.plan, fields, out_dir, GraphProgress(relay))


async def deploy_model(
    model: Model,
    ctx: Context,
    runtime: Annotated[Literal["docker", "process"], Field(description="docker (a container) or process (a local "
                                                                       "server process).")] = "docker",
    framework: Framework = None,
    image: Annotated[str | None, Field(description="Use this image instead of the catalog's.")] = None,
    name: Annotated[str | None, Field(description="Deployment name, DNS-1123 (derived when omitted).")] = None,
    port: Annotated[int | None, Field(ge=1, le=65535, description="Host port (a free one when omitted).")] = None,
    approve: Annotated[bool, Field(description="Approve the registration up front; otherwise the result is "
                                               "awaiting_approval with a thread_id for approve_deployment.")] = False,
    hardware: Hardware = None,
    virtual_gpus: Annotated[bool, Field(description="The hardware file's GPUs are played by the simulator.")] = False,
    max_model_len: MaxModelLen = None,
    max_gpus: MaxGpus = None,
    served_model_name: Annotated[str | None, Field(description="Name clients use (default: repo id or dir name).")] = None,
    python_env: Annotated[str | None, Field(description="process runtime: environment whose bin/ has the server.")] = None,
    command: Annotated[list[str] | None, Field(description="process runtime: server argv prefix, e.g. "
                                                           "[\"python\", \"-m\", \"modeldeploy.simulator\"].")] = None,
    env: Annotated[dict[str, str] | None, Field(description="Extra server environment variables.")] = None,
    trust_remote_code: Annotated[bool, Field(description="Only when the user explicitly approved running the "
                                                         "model's own code.")] = False,
    startup_timeout_s: Annotated[float | None, Field(gt=0, description="Seconds to wait for readiness.")] = None,
) -> dict[str, Any]:
    """Deploy a model: plan, download weights, pull the image, start the server, wait until it answers, smoke-test
    it, then register it (needs approval). Failed starts are diagnosed and repaired (at most 3 starts). Reports
    progress per step. Result: the `modeldeploy deploy --json` document (status ready, failed, rejected or
    awaiting_approval; endpoint; attempts; smoke_test; thread_id)."""
    fields = {"model": model, "runtime": runtime, "framework": framework, "image": image, "deployment_name": name,
              "port": port, "approve": approve, "hardware": hardware, "virtual_gpus": virtual_gpus,
              "max_model_len": max_model_len, "max_gpus": max_gpus, "served_model_name": served_model_name,
              "python_env": python_env, "command": command, "env": env or {},
              "trust_remote_code_approved": trust_remote_code}
    relay = ProgressRelay(ctx)
    return await relay.run(graph_runs.deploy, fields, startup_timeout_s, GraphProgress(relay))


async def approve_deployment(
    thread_id: Annotated[str, Field(description="The thread_id of a deployment whose status is awaiting_approval.")],
    ctx: Context,
    reject: Annotated[bool, Field(description="Reject instead: the deployment is removed.")] = False,
    reason: Annotated[str, Field(description="Why (recorded).")] = "",
) -> dict[str, Any]:
    """Answer the question a deployment is waiting on (registration, or running the model's own code) and continue
    it. Result: the `modeldeploy deploy --json` document."""
    relay = ProgressRelay(ctx)
    return await relay.run(graph_runs.approve, thread_id, reject, reason, GraphProgress(relay))


async def list_deployments(
    name: Annotated[str | None, Field(description="Only this deployment.")] = None,
) -> dict[str, Any]:
    """List deployments (`modeldeploy ps`): the registry joined with what actually runs (status, live state,
    runtime, endpoint, served model name)."""
    from modeldeploy.tools.deployments import live_deployments

    rows = await asyncio.to_thread(live_deployments)
    return {"deployments": [r for r in rows if name is None or r["name"] == name]}


async def remove_deployment(name: Annotated[str, Field(description="Deployment name (see list_deployments).")]
                            ) -> dict[str, Any]:
    """Stop and remove a deployment (`modeldeploy down`): its server and gateway entry; the registry marks it
    removed."""
    from modeldeploy.tools.deployments import remove_deployment as remove

    return await asyncio.to_thread(remove, name)


TOOLKIT = Toolkit(
    name="deploy",
    summary="Plan, deploy, approve, list and remove LLM server deployments (Docker or local processes).",
    tools=(
        ToolSpec(plan_deployment, "plan_deployment", "Plan a deployment", idempotent=True,
                 open_world=True),
        ToolSpec(deploy_model, "deploy_model", "Deploy a model", open_world=True, long_running=True),
        ToolSpec(approve_deployment, "approve_deployment", "Approve or reject a waiting deployment", long_running=True),
        ToolSpec(list_deployments, "list_deployments", "List deployments", read_only=True, idempotent=True),
        ToolSpec(remove_deployment, "remove_deployment", "Remove a deployment", destructive=True, idempotent=True),
    ),
)

"""A host LangGraph app that embeds the modeldeploy deploy graph as a subgraph.

    python examples/host_app_with_deploy_subgraph.py [MODEL]          # asks before registering
    python examples/host_app_with_deploy_subgraph.py [MODEL] --yes    # approves up front

The host has its own state (`HostState`: model, endpoint, status, ...) and three nodes:

    prepare -> deploy (the modeldeploy graph) -> report (one chat completion) -> END

`deploy` is a node function that maps the host state to a `DeployRequest`, invokes the
compiled deploy graph and maps its result back (LangGraph's "invoke a subgraph from a node"
pattern: the two graphs share no state keys). The host is compiled with
`context_schema=Context`; the node hands `runtime.context` to the subgraph, so the settings
a host run is given (LLM, database, timeouts...) are the ones the deployment uses.

The subgraph is compiled without a checkpointer and so runs on the host's: the deploy
graph's approval `interrupt()` surfaces in the host's result (`__interrupt__`, the
question with the endpoint, plan and smoke results), and the host resumes it with
`Command(resume={"approved": True, "by": ...})` on the same thread. On resume LangGraph
runs the host's `deploy` node again; the subgraph continues from its own checkpoint (the
deploy graph's nodes are idempotent), so nothing is started twice.

The server here is modeldeploy's inference simulator run as a local process
(`[sys.executable, "-m", "modeldeploy.simulator"]`); put a real server's command, or
`runtime="docker"` with an image, in `deploy_request` to serve a real model. Remove the
deployment afterwards with `modeldeploy down NAME` (or `remove_deployment(NAME)`).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any, Literal

import httpx
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command
from pydantic import BaseModel

from modeldeploy.graph import Context, make_builder
from modeldeploy.schemas.run import DeployRequest

ROOT = Path(__file__).resolve().parents[1]
SIMULATOR = [sys.executable, "-m", "modeldeploy.simulator"]
QUESTION = "What is 2 + 3?"

# Compiled once, without a checkpointer: inside the host it uses the host's checkpointer and thread.
deploy_graph = make_builder().compile(name="modeldeploy")


class HostState(BaseModel):
    """The host app's own state; it shares no keys with the deploy graph's `DeployState`."""

    model: str
    """A local model directory, a .gguf file or a hub id."""
    approve: bool = False
    """Register without asking (the deploy graph's --yes); False makes the deploy graph ask through an interrupt."""
    endpoint: str | None = None
    """The endpoint's base URL (ending in /v1), once deployed."""
    served_model_name: str | None = None
    """The model name the endpoint serves."""
    deployment: str | None = None
    """The deployment's name (what `modeldeploy down` removes)."""
    status: str | None = None
    """prepared, then the deploy graph's outcome: ready, failed, rejected."""
    error: str | None = None
    """Why the deployment did not become ready."""
    answer: str | None = None
    """The endpoint's reply to the report node's question."""


def deploy_request(state: HostState) -> DeployRequest:
    """The deploy graph's input for the host's state: the simulator as a local process."""
    return DeployRequest(model=state.model, action="deploy", runtime="process", command=SIMULATOR,
                         approve=state.approve)


async def prepare(state: HostState) -> dict[str, Any]:
    """1. Resolve the model path (relative paths from the repository root) before anything runs."""
    path = Path(state.model).expanduser()
    if not path.is_absolute() and (ROOT / path).exists():
        path = ROOT / path
    return {"model": str(path) if path.exists() else state.model, "status": "prepared"}


async def deploy(state: HostState, runtime: Runtime[Context]) -> dict[str, Any]:
    """2. Run the deploy graph as a subgraph: host state -> DeployRequest, its result -> host state.

    The Context the host was invoked with is passed through. An approval interrupt inside the
    subgraph pauses the host here; on resume this node runs again and the subgraph continues.
    """
    inputs = {"request": deploy_request(state).model_dump(mode="json")}
    result = await deploy_graph.ainvoke(inputs, context=runtime.context)
    artifacts = result.get("artifacts") or {}
    return {"endpoint": artifacts.get("endpoint"), "served_model_name": artifacts.get("served_model_name"),
            "deployment": artifacts.get("deployment_name"), "status": result.get("status"),
            "error": result.get("error")}


def route_after_deploy(state: HostState) -> Literal["report", "__end__"]:
    """Only a ready endpoint is worth a question."""
    return "report" if state.status == "ready" and state.endpoint else END


async def report(state: HostState) -> dict[str, Any]:
    """3. Ask the new endpoint one chat question (OpenAI-compatible /chat/completions)."""
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(f"{state.endpoint}/chat/completions",
                                     json={"model": state.served_model_name, "max_tokens": 16, "temperature": 0,
                                           "messages": [{"role": "user", "content": QUESTION}]})
        response.raise_for_status()
    return {"answer": response.json()["choices"][0]["message"]["content"]}


def build_host_app(checkpointer: Any = None):
    """The host graph, compiled; give it a checkpointer to let the approval interrupt pause and resume it."""
    host = StateGraph(HostState, context_schema=Context)
    host.add_node("prepare", prepare)
    host.add_node("deploy", deploy)
    host.add_node("report", report)
    host.add_edge(START, "prepare")
    host.add_edge("prepare", "deploy")
    host.add_conditional_edges("deploy", route_after_deploy, ["report", END])
    host.add_edge("report", END)
    return host.compile(checkpointer=checkpointer, name="host-app")


async def deploy_and_report(model: str, context: Context | None = None) -> dict[str, Any]:
    """Approve up front: one run, prepare -> deploy -> report. Returns the host's final state."""
    app = build_host_app()
    return await app.ainvoke({"model": model, "approve": True}, context=context or Context())


async def start_with_approval(app: Any, model: str, thread_id: str, context: Context | None = None) -> dict[str, Any]:
    """First leg: run until the deploy graph asks for approval. The host's result carries `__interrupt__`."""
    config = {"configurable": {"thread_id": thread_id}}
    return await app.ainvoke({"model": model, "approve": False}, config, context=context or Context())


async def resume_approval(app: Any, thread_id: str, approved: bool, by: str = "host-app",
                          context: Context | None = None) -> dict[str, Any]:
    """Second leg: answer the question from the host (same thread); the deploy graph registers or cleans up."""
    config = {"configurable": {"thread_id": thread_id}}
    answer = {"approved": approved, "by": by} if approved else {"approved": False, "by": by, "reason": "declined in the host app"}
    return await app.ainvoke(Command(resume=answer), config, context=context or Context())


async def deploy_with_approval(model: str, decide: Any, context: Context | None = None) -> tuple[list[Any], dict[str, Any]]:
    """Both legs on an in-memory checkpointer: `decide(question) -> bool` answers the deploy graph's question.

    Returns (the interrupt values the host saw, the host's final state).
    """
    app = build_host_app(InMemorySaver())
    thread_id = f"host-{uuid.uuid4().hex[:8]}"
    paused = await start_with_approval(app, model, thread_id, context)
    questions = [i.value for i in paused.get("__interrupt__", ())]
    if not questions:  # the deployment failed before the approval step
        return questions, paused
    final = await resume_approval(app, thread_id, bool(decide(questions[0])), context=context)
    return questions, final


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--yes"]
    model = args[0] if args else "models/tiny-llama"
    if "--yes" in sys.argv[1:]:
        final = asyncio.run(deploy_and_report(model))
    else:
        def ask(question: dict[str, Any]) -> bool:
            return input(f"{question['question']} [y/N] ").strip().lower() in ("y", "yes")

        _, final = asyncio.run(deploy_with_approval(model, ask))
    print(f"status: {final.get('status')}  endpoint: {final.get('endpoint')}  deployment: {final.get('deployment')}")
    if final.get("answer") is not None:
        print(f"{QUESTION} -> {final['answer']!r}")
    if final.get("error"):
        print(f"error: {final['error']}")
    if final.get("deployment") and final.get("status") == "ready":
        print(f"remove it with: modeldeploy down {final['deployment']}")


if __name__ == "__main__":
    main()

"""Plan, deploy and approve through the deployment graph, blocking, for a worker thread.

These are the CLI's graph runs (`cli.run_graph`: SQLite or Postgres checkpointer,
a thread derived from the request so that a re-run resumes) with the progress
events sent to a `GraphProgress` instead of a terminal, and the documents of
`plan --json` and `deploy --json` as results. Each call runs its own event loop,
so it must run off the server's loop (`ProgressRelay.run`).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from modeldeploy.errors import UserInputError

APPROVED_BY = "mcp deploy_model approve=true"


def _run(inputs: Any, context: Any, thread_id: str, progress: Any, resume_pending: bool = False) -> Any:
    # the CLI's graph runner with our progress sink (run_graph draws on a terminal)
    from modeldeploy.cli.run_graph import arun_graph

    return asyncio.run(arun_graph(inputs, context, thread_id, progress, resume_pending))


def check_framework(framework: str | None) -> None:
    from modeldeploy.catalog import load_catalog

    known = load_catalog().frameworks
    if framework and framework not in known:
        raise UserInputError(f"unknown framework {framework!r} (known: {', '.join(known)})")


def load_hardware(path: str | None) -> Any:
    from modeldeploy.tools.hardware.probe import load_hardware_file

    return load_hardware_file(Path(path).expanduser()) if path else None


def plan(fields: dict[str, Any], out_dir: str | None, progress: Any) -> dict[str, Any]:
    """The `modeldeploy plan --json` document for a DeployRequest's `fields` (hardware: a file path or None)."""
    from modeldeploy.cli.plan_report import plan_document
    from modeldeploy.graph import Context
    from modeldeploy.schemas.run import DeployRequest
    from modeldeploy.tools.model_inspect.source import resolve_source

    check_framework(fields.get("framework"))
    resolve_source(fields["model"], fields.get("revision"))
    request = DeployRequest(**{**fields, "hardware": load_hardware(fields.get("hardware"))})
    outcome = _run({"request": request.model_dump(mode="json")}, Context(out_dir=out_dir), str(uuid.uuid4()), progress)
    return plan_document(outcome.values, outcome.thread_id)


def deploy(fields: dict[str, Any], startup_timeout_s: float | None, progress: Any) -> dict[str, Any]:
    """The `modeldeploy deploy --json` document. `approve` answers the registration question only: running
    the model's own code needs `trust_remote_code_approved` (or a later `approve_deployment`)."""
    from langgraph.types import Command

    from modeldeploy.cli.deploy import deploy_document
    from modeldeploy.cli.run_graph import thread_for
    from modeldeploy.graph import Context
    from modeldeploy.schemas.run import DeployRequest
    from modeldeploy.tools.model_inspect.source import resolve_source
    from modeldeploy.tools.runtimes.images import valid_image

    check_framework(fields.get("framework"))
    if fields.get("image") and not valid_image(fields["image"]):
        raise UserInputError(f"invalid image reference {fields['image']!r}")
    resolve_source(fields["model"])
    request = DeployRequest(**{**fields, "hardware": load_hardware(fields.get("hardware")), "action": "deploy"})
    payload = request.model_dump(mode="json")
    context = Context(startup_timeout_s=startup_timeout_s)
    outcome = _run({"request": payload}, context, thread_for(payload), progress, resume_pending=True)
    for _ in range(3):  # a trust_remote_code question may come before the registration one
        if not outcome.interrupts or not request.approve or outcome.interrupts[0].get("kind") == "trust_remote_code":
            break
        outcome = _run(Command(resume={"approved": True, "by": APPROVED_BY}), context, outcome.thread_id, progress)
    return deploy_document(outcome)


def approve(thread_id: str, reject: bool, reason: str, progress: Any) -> dict[str, Any]:
    """Answer the question a deployment thread is waiting on; the `deploy --json` document of where it stops next."""
    from langgraph.types import Command

    from modeldeploy.cli.deploy import deploy_document
    from modeldeploy.cli.run_graph import pending_interrupts
    from modeldeploy.graph import Context

    if not asyncio.run(pending_interrupts(thread_id)):
        raise UserInputError(f"thread {thread_id} is not waiting for an approval")
    answer = {"approved": not reject, "by": "mcp approve_deployment", "reason": reason or ("rejected" if reject else "")}
    return deploy_document(_run(Command(resume=answer), Context(), thread_id, progress))

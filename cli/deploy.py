"""`modeldeploy deploy`, `approve`, `ps`, `down`: run deployments and look after them.

`deploy` derives its LangGraph thread from the request, so the same command
re-run after a crash resumes where it stopped; an approval it is waiting for is
answered by `--yes`, an interactive prompt, or `modeldeploy approve THREAD`.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from modeldeploy.cli.output import echo_json
from modeldeploy.errors import UserInputError

EXIT_FAILED = 1
EXIT_AWAITING_APPROVAL = 4



def deploy_document(outcome: Any) -> dict[str, Any]:
    """The `deploy --json` document."""
    from modeldeploy.nodes.approve import benchmark_summary, evaluation_summary

    v = outcome.values
    a = v.get("artifacts") or {}
    d = v.get("decision") or {}
    status = v.get("status")
    if outcome.interrupts:
        status = "awaiting_approval"
    elif status not in ("ready", "rejected"):
        status = "failed"
    reasons = [r for r in [v.get("error"), d.get("rationale")] if r]
    if not v.get("decision") and v.get("plan"):
        reasons += v["plan"].get("reasons", [])[:5]
    smoke = v.get("smoke")
    return {
        "status": status,
        "name": a.get("deployment_name"),
        "endpoint": a.get("endpoint"),
        "served_model_name": a.get("served_model_name"),
        "container_id": a.get("container_id"),
        "runtime": (v.get("request") or {}).get("runtime"),
        "framework": d.get("framework"),
        "image": a.get("image"),
        "decided_by": d.get("decided_by"),
        "attempts": v.get("attempts", []),
        "repairs": v.get("repairs", []),
        "smoke_test": smoke,
        "benchmark": benchmark_summary(v.get("benchmark")),
        "evaluations": evaluation_summary(v.get("evaluations") or {}),
        "approval": v.get("approval") or (outcome.interrupts[0] if outcome.interrupts else None),
        "gateway_config": a.get("gateway_config"),
        "reasons": reasons,
        "alternatives": (v.get("plan") or {}).get("alternatives", []) if not v.get("decision") else [],
        "usage": v.get("usage", []),
        "thread_id": outcome.thread_id,
        "resumed": outcome.resumed,
    }


def _print(doc: dict[str, Any], console: Console) -> None:
    colour = {"ready": "green", "awaiting_approval": "yellow"}.get(doc["status"], "red")
    console.print(f"[bold {colour}]{doc['status']}[/] {doc['name'] or ''}")
    if doc["endpoint"]:
        console.print(f"  endpoint: {doc['endpoint']}  model: {doc['served_model_name']}")
        console.print(f"  try: curl {doc['endpoint']}/chat/completions -H 'Content-Type: application/json' "
                      f"-d '{{\"model\": \"{doc['served_model_name']}\", \"messages\": [{{\"role\": \"user\", \"content\": \"Hi\"}}]}}'")
    bench = doc.get("benchmark")
    for run in bench if isinstance(bench, list) else []:
        console.print(f"  load test {run['load']}: {run['request_throughput']} req/s, {run['output_token_throughput']} tok/s, "
                      f"TTFT {run['ttft_ms_mean'] or 0:.1f} ms, TPOT {run['tpot_ms_mean'] or 0:.2f} ms"
                      + ("" if run["valid"] else " (client-bound: not the server's number)"))
    if isinstance(bench, dict) and bench.get("error"):
        console.print(f"  load test: {bench['error']}")
    for suite, r in (doc.get("evaluations") or {}).items():
        console.print(f"  eval {suite}: " + (r["error"] if "error" in r else
                      f"{r['score_official']:.1%} official, {r['score_strict']:.1%} strict, n={r['n']}, "
                      f"unparsed {r['unparsed_rate']:.1%}"))
    for reason in doc["reasons"]:
        console.print(f"  - {reason}")
    if doc["status"] == "awaiting_approval":
        console.print(f"  approve with: modeldeploy approve {doc['thread_id']}  (or --reject)")


def _finish(outcome: Any, as_json: bool) -> None:
    doc = deploy_document(outcome)
    if as_json:
        echo_json(doc)
    else:
        _print(doc, Console(soft_wrap=True))
    if doc["status"] == "awaiting_approval":
        raise typer.Exit(EXIT_AWAITING_APPROVAL)
    if doc["status"] != "ready":
        raise typer.Exit(EXIT_FAILED)


def _ask(interrupt_value: dict[str, Any]) -> dict[str, Any] | None:
    """Ask on a terminal; None when there is no terminal to ask on."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return None
    console = Console(stderr=True)
    console.print_json(json.dumps({k: interrupt_value.get(k) for k in ("plan", "smoke")}))
    answer = typer.confirm(interrupt_value.get("question", "Approve?"), default=False, err=True)
    return {"approved": answer, "by": "terminal"}


def deploy(
    model: Annotated[str, typer.Argument(help="Local model directory, .gguf file, or hub id (org/name).")],
    runtime: Annotated[str, typer.Option(help="docker or process.")] = "docker",
    framework: Annotated[str | None, typer.Option(help="Force a framework.")] = None,
    image: Annotated[str | None, typer.Option(help="Use this image (e.g. the simulator) instead of the catalog's.")] = None,
    name: Annotated[str | None, typer.Option(help="Deployment name (derived when omitted).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Host port (a free one when omitted).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Approve registration up front.")] = False,
    hardware: Annotated[Path | None, typer.Option(help="Plan for this hardware JSON instead of probing.")] = None,
    max_model_len: Annotated[int | None, typer.Option(min=16, help="Required context length.")] = None,
    max_gpus: Annotated[int | None, typer.Option(min=1, help="Use at most this many GPUs.")] = None,
    served_model_name: Annotated[str | None, typer.Option(help="Name clients use (default: repo id or dir name).")] = None,
    python_env: Annotated[str | None, typer.Option(help="process runtime: environment whose bin/ has the server.")] = None,
    command: Annotated[str | None, typer.Option(help="process runtime: server command prefix, e.g. 'python -m modeldeploy.simulator'.")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", "-e", help="Extra server environment, KEY=VALUE (repeatable).")] = None,
    virtual_gpus: Annotated[bool, typer.Option("--virtual-gpus", help="The --hardware GPUs are played by the simulator: no device requests.")] = False,
    trust_remote_code: Annotated[bool, typer.Option("--trust-remote-code", help="Approve running the model's own code up front.")] = False,
    startup_timeout: Annotated[float | None, typer.Option(min=1, help="Seconds to wait for readiness (default grows with size).")] = None,
    bench_concurrency: Annotated[str | None, typer.Option(help="Load-test after the smoke test at these user counts, e.g. 1,4,16.")] = None,
    bench_requests: Annotated[int, typer.Option(min=1, help="Requests per load point of that load test.")] = 32,
    eval_suites: Annotated[list[str] | None, typer.Option("--eval", help="Evaluate with this suite after the load test (repeatable): mmlu_pro, aime2025, gsm8k, addition, or a suite YAML.")] = None,
    eval_limit: Annotated[int | None, typer.Option(min=1, help="Only the first N questions of each suite.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON document on stdout.")] = False,
) -> None:
    """Deploy a model: plan, weights, image, server, readiness, smoke test, approval, registration."""
    from modeldeploy.catalog import load_catalog
    from modeldeploy.cli.run_graph import run_graph, thread_for
    from modeldeploy.graph import Context
    from modeldeploy.schemas.run import BenchProfile, DeployRequest, EvalRequest
    from modeldeploy.tools.hardware.probe import load_hardware_file
    from modeldeploy.tools.model_inspect.source import resolve_source
    from modeldeploy.tools.runtimes.images import valid_image

    if runtime not in ("docker", "process"):
        raise UserInputError(f"unknown runtime {runtime!r} (docker or process)")
    if framework and framework not in load_catalog().frameworks:
        raise UserInputError(f"unknown framework {framework!r} (known: {', '.join(load_catalog().frameworks)})")
    if image and not valid_image(image):
        raise UserInputError(f"invalid image reference {image!r}")
    resolve_source(model)
    extra_env = {}
    for item in env or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserInputError(f"--env {item!r}: expected KEY=VALUE")
        extra_env[key] = value
    argv = None
    if command:
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise UserInputError(f"--command: {exc}") from None
    bench = None
    if bench_concurrency:
        try:
            users = [int(v) for v in bench_concurrency.split(",") if v.strip()]
        except ValueError:
            raise UserInputError(f"--bench-concurrency {bench_concurrency!r}: expected numbers like 1,4,16") from None
        bench = BenchProfile(concurrency=users, num_requests=bench_requests)
    evals = [EvalRequest(suite=suite, limit=eval_limit) for suite in eval_suites or []]
    request = DeployRequest(
        benchmark=bench, evals=evals,
        model=model, framework=framework, image=image, deployment_name=name, port=port, approve=yes, runtime=runtime,
        hardware=load_hardware_file(hardware) if hardware else None, max_model_len=max_model_len, max_gpus=max_gpus,
        served_model_name=served_model_name, python_env=python_env, command=argv, action="deploy", env=extra_env,
        virtual_gpus=virtual_gpus, trust_remote_code_approved=trust_remote_code,
    )
    payload = request.model_dump(mode="json")
    context = Context(startup_timeout_s=startup_timeout)
    thread_id = thread_for(payload)
    outcome = run_graph({"request": payload}, context, show_progress=not as_json, thread_id=thread_id, resume_pending=True)
    for _ in range(3):  # a trust_remote_code question may come before the registration one
        if not outcome.interrupts:
            break
        pending = outcome.interrupts[0]
        # --yes approves registration only: running the model's own code needs --trust-remote-code or a person
        if yes and pending.get("kind") != "trust_remote_code":
            answer = {"approved": True, "by": "--yes"}
        else:
            answer = _ask(pending)
        if answer is None:
            break
        from langgraph.types import Command

        outcome = run_graph(Command(resume=answer), context, show_progress=not as_json, thread_id=outcome.thread_id)
    _finish(outcome, as_json)


def approve(
    thread_id: Annotated[str, typer.Argument(help="The thread id `deploy` printed.")],
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead (the deployment is removed).")] = False,
    reason: Annotated[str, typer.Option(help="Why (recorded).")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Answer a deployment waiting for approval."""
    from langgraph.types import Command

    from modeldeploy.cli.run_graph import pending_interrupts, run_graph
    from modeldeploy.graph import Context

    if not asyncio.run(pending_interrupts(thread_id)):
        raise UserInputError(f"thread {thread_id} is not waiting for an approval")
    answer = {"approved": not reject, "by": "modeldeploy approve", "reason": reason or ("rejected" if reject else "")}
    _finish(run_graph(Command(resume=answer), Context(), show_progress=not as_json, thread_id=thread_id), as_json)


def ps(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False) -> None:
    """List deployments: the registry joined with what actually runs."""
    from modeldeploy.tools.deployments import live_deployments

    rows = live_deployments()
    if as_json:
        echo_json(rows)
        return
    console = Console(soft_wrap=True)
    if not rows:
        console.print("no deployments")
    for r in rows:
        console.print(f"{r['name']}  {r['status']}/{r.get('live') or '-'}  {r.get('runtime')}  {r.get('endpoint') or ''}  "
                      f"{r.get('served_model_name') or ''}")


def down(
    name: Annotated[str, typer.Argument(help="Deployment name (see `modeldeploy ps`).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Stop and remove a deployment: its server, its gateway entry; the registry marks it removed."""
    from modeldeploy.tools.deployments import remove_deployment

    result = remove_deployment(name)
    if as_json:
        echo_json(result)
    else:
        Console().print(f"removed {name}: {result['servers_removed']} server(s), gateway entry "
                        f"{'removed' if result['gateway_entry_removed'] else 'absent'}")


def register_commands(app: typer.Typer) -> None:
    for command in (deploy, approve, ps, down):
        app.command()(command)

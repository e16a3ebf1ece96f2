"""`modeldeploy`: plan, probe and curate from the terminal.

Errors are one line on stderr with a meaningful exit code (2 bad input,
3 nothing fits, 1 anything else); never a traceback unless MODELDEPLOY_DEBUG=1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from modeldeploy.cli.output import echo_json
from modeldeploy.errors import ModelDeployError, UserInputError

app = typer.Typer(name="modeldeploy", help="Take an LLM from a model id and a machine to a tested endpoint.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)

EXIT_INFEASIBLE = 3



@app.command()
def probe(as_json: Annotated[bool, typer.Option("--json", help="Print the hardware JSON (the --hardware format).")] = False) -> None:
    """Probe this machine: GPUs (NVML), CPU, memory, disk, container engine."""
    from modeldeploy import settings
    from modeldeploy.tools.hardware.probe import probe_hardware

    hw = probe_hardware(settings.home_dir() / "models")
    if as_json:
        echo_json(hw.model_dump(mode="json"))
        return
    console = Console()
    console.print(hw.summary())
    for gpu in hw.gpus:
        console.print(f"  GPU {gpu.index}: {gpu.name}, {gpu.memory_free_mib}/{gpu.memory_total_mib} MiB free, cc {gpu.compute_capability}")
    console.print(f"  CPU flags: {', '.join(hw.cpu.flags) or 'none of interest'}; disk free {hw.disk_free_gib} GiB")
    eng = hw.container_engine
    if eng:
        console.print(f"  docker: {'reachable ' + str(eng.version) if eng.reachable else 'unreachable (' + str(eng.error) + ')'}"
                      f"{', nvidia runtime' if eng.nvidia_runtime else ''}")


@app.command()
def plan(
    model: Annotated[str, typer.Argument(help="Local model directory, .gguf file, or hub id (org/name).")],
    hardware: Annotated[Path | None, typer.Option(help="Plan for the machine in this JSON file instead of probing.")] = None,
    framework: Annotated[str | None, typer.Option(help="Force a framework: vllm, sglang, tgi, llama.cpp, transformers.")] = None,
    max_gpus: Annotated[int | None, typer.Option(min=1, help="Use at most this many GPUs.")] = None,
    max_model_len: Annotated[int | None, typer.Option(min=16, help="Required context length.")] = None,
    revision: Annotated[str | None, typer.Option(help="Hub revision.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON document on stdout.")] = False,
    out: Annotated[Path | None, typer.Option(help="Write docker-run.json, compose.yaml and kubernetes.yaml here.")] = None,
) -> None:
    """Plan a deployment: framework, image, TP, dtype, context, with the memory arithmetic. No side effects."""
    from modeldeploy.catalog import load_catalog
    from modeldeploy.cli.plan_report import plan_document, print_plan
    from modeldeploy.cli.run_graph import run_graph
    from modeldeploy.graph import Context
    from modeldeploy.schemas.run import DeployRequest
    from modeldeploy.tools.hardware.probe import load_hardware_file
    from modeldeploy.tools.model_inspect.source import resolve_source

    if framework and framework not in load_catalog().frameworks:
        raise UserInputError(f"unknown framework {framework!r} (known: {', '.join(load_catalog().frameworks)})")
    resolve_source(model, revision)  # fail fast, before anything runs
    hw = load_hardware_file(hardware) if hardware else None
    request = DeployRequest(model=model, revision=revision, framework=framework, max_gpus=max_gpus,
                            max_model_len=max_model_len, hardware=hw)
    outcome = run_graph({"request": request.model_dump(mode="json")}, Context(out_dir=str(out) if out else None),
                        show_progress=not as_json)
    doc = plan_document(outcome.values, outcome.thread_id)
    if as_json:
        echo_json(doc)
    else:
        print_plan(doc, Console(soft_wrap=True))
    if not doc["feasible"]:
        raise typer.Exit(EXIT_INFEASIBLE)


def _register_subcommands() -> None:
    from modeldeploy.cli.deploy import register_commands
    from modeldeploy.cli.experience import app as experience_app
    from modeldeploy.cli.diagnose import diagnose_command
    from modeldeploy.cli.logs import app as logs_app
    from modeldeploy.cli.logs_external import logs_query_command
    from modeldeploy.cli.sim import app as sim_app
    from modeldeploy.cli.bench import bench_command
    from modeldeploy.cli.eval import app as eval_app
    from modeldeploy.cli.mcp import mcp_command
    from modeldeploy.cli.serve import serve_command

    register_commands(app)
    app.command("diagnose")(diagnose_command)
    app.add_typer(experience_app, name="experience")
    app.add_typer(sim_app, name="sim")
    logs_app.command("query")(logs_query_command)
    app.add_typer(logs_app, name="logs")
    app.command("bench")(bench_command)
    app.add_typer(eval_app, name="eval")
    app.command("serve")(serve_command)
    app.command("mcp")(mcp_command)


_register_subcommands()


def run() -> None:
    """Console-script entry point: map every failure to one line and an exit code."""
    debug = bool(os.environ.get("MODELDEPLOY_DEBUG"))
    try:
        code = app(standalone_mode=False)
    except ModelDeployError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except ValidationError as exc:  # a request model refused an option's value
        if debug:
            raise
        err = exc.errors()[0]
        print(f"error: invalid {'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}", file=sys.stderr)
        sys.exit(2)
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors (typer vendors click's exception classes)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        print(f"error: {' '.join(message.split())}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        print(f"error: internal error {exc.__class__.__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''} "
              "(MODELDEPLOY_DEBUG=1 shows the traceback)", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    run()

"""`modeldeploy sim`: the inference simulator, in this process or as a container image.

    modeldeploy sim serve -- --model models/tiny-llama --port 8123
    modeldeploy sim serve --gpu tests/fixtures/machines/t4-x1.json -- --model DIR --dtype half
    modeldeploy sim image [--base python:3.11-slim] [--tag modeldeploy/simulator:latest] [--push]

The simulator itself (`modeldeploy.simulator`) is standard-library only; this
module is the convenience layer (typer, docker SDK). The main CLI mounts it with
`app.add_typer(sim_app, name="sim")`.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Annotated

import typer

from modeldeploy.errors import ModelDeployError, UserInputError

app = typer.Typer(
    name="sim",
    help="The inference simulator: an OpenAI-compatible stand-in for vLLM, SGLang, TGI and llama.cpp server.",
    no_args_is_help=True,
)


def _one_line(text: object, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _gpu_json(value: str) -> str:
    """`--gpu` takes JSON, `none`, or the path of a JSON file (a hardware file's `gpus` list works)."""
    text = value.strip()
    if text.lower() in ("", "none", "cpu") or text.startswith(("{", "[")):
        return text
    path = Path(text).expanduser()
    if not path.is_file():
        raise UserInputError(f"--gpu: {value!r} is neither JSON nor a readable file")
    return path.read_text(encoding="utf-8")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def serve(
    args: Annotated[list[str] | None, typer.Argument(help="The framework's own launch flags (put them after `--`).")] = None,
    framework: Annotated[str | None, typer.Option(help="vllm, sglang, tgi, llama.cpp or transformers (default: from the flags).")] = None,
    ttft_ms: Annotated[float | None, typer.Option(help="Prefill time once a request holds a slot (ms).")] = None,
    tpot_ms: Annotated[float | None, typer.Option(help="Time per further output token (ms).")] = None,
    slots: Annotated[int | None, typer.Option(min=1, help="Sequences decoded at once; more wait in a queue.")] = None,
    startup_s: Annotated[float | None, typer.Option(min=0, help="Simulated load time (s).")] = None,
    gpu: Annotated[str | None, typer.Option(help="Virtual GPU: JSON, `none`, or a hardware JSON file.")] = None,
    image_cuda: Annotated[str | None, typer.Option(help="CUDA version the simulated image was built with.")] = None,
    fail: Annotated[int | None, typer.Option(min=1, max=26, help="Force the failure of this failure-signatures.md row.")] = None,
) -> None:
    """Run the simulator in this process until Ctrl-C/SIGTERM, e.g. `modeldeploy sim serve -- --model DIR --port 8123`."""
    from modeldeploy.simulator.server import main

    env = dict(os.environ)
    overlay = {"FRAMEWORK": framework, "TTFT_MS": ttft_ms, "TPOT_MS": tpot_ms, "SLOTS": slots,
               "STARTUP_S": startup_s, "GPU": _gpu_json(gpu) if gpu is not None else None,
               "IMAGE_CUDA": image_cuda, "FAIL": fail}
    env.update({f"MODELDEPLOY_SIM_{k}": str(v) for k, v in overlay.items() if v is not None})
    code = main(list(args or []), env)
    if code:
        raise typer.Exit(code)


@app.command()
def image(
    base: Annotated[str, typer.Option(help="Base image with python3 >= 3.11.")] = "python:3.11-slim",
    tag: Annotated[str, typer.Option(help="Tag of the built image.")] = "modeldeploy/simulator:latest",
    push: Annotated[bool, typer.Option("--push", help="Push the tag to its registry after building.")] = False,
) -> None:
    """Build the simulator image with the Docker SDK from an in-memory context (and push it)."""
    import docker
    from docker.errors import APIError, BuildError, DockerException

    from modeldeploy.simulator.image import build_context

    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        raise ModelDeployError(f"cannot build the simulator image on base image {base}: the container engine is "
                               f"unreachable ({_one_line(exc)})") from None
    try:
        built, _logs = client.images.build(fileobj=io.BytesIO(build_context(base)), custom_context=True, tag=tag,
                                           rm=True, forcerm=True, labels={"modeldeploy.simulator": "1"})
    except BuildError as exc:
        raise ModelDeployError(f"building the simulator image on base image {base} failed: {_one_line(exc.msg)}") from None
    except (APIError, DockerException) as exc:
        raise ModelDeployError(f"building the simulator image on base image {base} failed: {_one_line(exc)}") from None
    if push:
        repository, tag_name = _split_tag(tag)
        try:
            for line in client.images.push(repository, tag=tag_name, stream=True, decode=True):
                if isinstance(line, dict) and line.get("error"):
                    raise ModelDeployError(f"pushing {tag} failed: {_one_line(line['error'])}")
        except (APIError, DockerException) as exc:
            raise ModelDeployError(f"pushing {tag} failed: {_one_line(exc)}") from None
    typer.echo(f"{tag} {built.id}")


def _split_tag(reference: str) -> tuple[str, str]:
    """('registry:5000/name', 'tag') from 'registry:5000/name:tag' (tag 'latest' when absent)."""
    head, sep, tail = reference.rpartition(":")
    if not sep or "/" in tail:
        return reference, "latest"
    return head, tail

"""render_manifest: the decision's slots into a Docker run spec, a compose file and Kubernetes YAML."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

from langgraph.runtime import Runtime

from modeldeploy import settings
from modeldeploy.catalog import load_catalog
from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployState
from modeldeploy.nodes.node_support import Step, dump
from modeldeploy.schemas.run import Artifacts
from modeldeploy.tools.manifests.compose import compose_yaml
from modeldeploy.tools.manifests.docker_spec import docker_run_spec
from modeldeploy.tools.manifests.kubernetes import kubernetes_yaml
from modeldeploy.tools.manifests.launch_args import (LaunchValues, container_model_path, deployment_name, render_args,
                                                     render_env)
from modeldeploy.tools.runtimes.images import mirrors_from_env, rewrite, valid_image
from modeldeploy.tools.runtimes.ports import free_port
from modeldeploy.tools.runtimes.process_runtime import resolve_command


def weights_host_path(state: DeployState) -> str:
    """Local models are used in place; hub models go to the weights directory (see download_weights)."""
    source = state.model.source
    if source.kind in ("local_dir", "gguf_file"):
        return source.path
    return str(settings.home_dir() / "models" / source.repo_id.replace("/", "--"))


def virtual_gpu_env(state: DeployState) -> dict[str, str]:
    """For virtual GPUs, tell the simulator which GPU it plays and which CUDA its image was built with."""
    hw, decision = state.hardware, state.decision
    if not (state.request.virtual_gpus and hw.gpus):
        return {}
    gpu = hw.gpus[0]
    env = {"MODELDEPLOY_SIM_GPU": json.dumps({
        "name": gpu.name, "memory_total_mib": gpu.memory_total_mib, "compute_capability": gpu.compute_capability,
        "count": max(decision.slots.gpus, 1), "cuda_driver_version": hw.cuda_driver_version})}
    # The CUDA of the image the decision names (a repair may have picked an older one than the plan's).
    image = next((i for i in load_catalog().get(decision.framework).images if i.image == decision.image), None)
    if image and image.cuda:
        env["MODELDEPLOY_SIM_IMAGE_CUDA"] = image.cuda
    return env


def startup_minutes(weight_bytes: int | None) -> int:
    """Time to allow for loading: 10 minutes plus one per 2 GiB of weights."""
    return 10 + math.ceil((weight_bytes or 0) / (2 * 1024**3))


def _write(out_dir: Path, files: dict[str, str]) -> dict[str, str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for kind, (name, text) in files.items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written[kind] = str(path)
    return written


async def render_manifest(state: DeployState, runtime: Runtime[Context]) -> dict:
    step = Step(runtime, "render_manifest")
    ctx = runtime.context or Context()
    decision, model, request = state.decision, state.model, state.request
    spec = load_catalog().get(decision.framework)
    # a repair re-renders: the deployment keeps its name (and so its labels, registry row and gateway entry)
    name = request.deployment_name or state.artifacts.deployment_name or deployment_name(
        model.name, decision.framework, f"{model.source.ref}|{decision.framework}|{decision.slots.tensor_parallel_size}")
    host_path = weights_host_path(state)
    mount = container_model_path(host_path, name, model.source.kind == "gguf_file")
    served = request.served_model_name or model.source.repo_id or model.name
    deploying = request.action == "deploy"
    # A deployment needs a host port now; a plan shows the framework's default. After a
    # port_in_use repair the asked-for port is taken by someone else: a free one is used instead.
    port_taken = any(r.fix and "host_port" in r.fix for r in state.repairs)
    port = (request.port if not port_taken else None) or (free_port() if deploying else spec.port)
    image = request.image or decision.image
    if image and not valid_image(image):
        from modeldeploy.errors import UserInputError

        raise UserInputError(f"invalid image reference {image!r}")
    image = rewrite(image, mirrors_from_env()) if image else image
    args = render_args(spec, decision, LaunchValues(model_path=mount, served_model_name=served, port=spec.port))
    env = {**render_env(spec, decision), **virtual_gpu_env(state), **request.env}
    labels = {"deployment": name, "framework": decision.framework, "model": model.source.ref[:200], "managed": "true"}
    run_spec = docker_run_spec(name=name, image=image, entrypoint=spec.launch.entrypoint, args=args, env=env,
                               container_port=spec.port, host_port=port, weights_host_path=host_path,
                               weights_mount=mount, gpus=0 if request.virtual_gpus else decision.slots.gpus,
                               labels=labels, ipc_host=decision.slots.ipc_host)
    if not spec.names_served_model:  # e.g. transformers serve: requests name the model by its path
        served = host_path if request.runtime == "process" else mount
    process_spec = None
    if request.runtime == "process":
        command = request.command or resolve_command(spec.launch.process_command, request.python_env)
        process_args = render_args(spec, decision, LaunchValues(model_path=host_path, served_model_name=served,
                                                                port=port, host="127.0.0.1"))
        process_spec = {"name": name, "argv": [*command, *process_args], "env": env, "port": port}
    files = {
        "docker_run": ("docker-run.json", json.dumps(run_spec, indent=2) + "\n"),
        "compose": ("compose.yaml", compose_yaml(run_spec)),
        "kubernetes": ("kubernetes.yaml", kubernetes_yaml(
            name=name, image=image, entrypoint=spec.launch.entrypoint, args=args, env=env,
            container_port=spec.port, weights_mount=mount, gpus=decision.slots.gpus,
            models_path=spec.readiness.models_path, labels=labels, startup_minutes=startup_minutes(model.weight_bytes))),
    }
    written = await asyncio.to_thread(_write, Path(ctx.out_dir), files) if ctx.out_dir else {}
    artifacts = Artifacts(deployment_name=name, manifests=written, run_spec=run_spec, process_spec=process_spec,
                          served_model_name=served, host_port=port, weights_dir=host_path, image=image)
    return {"artifacts": dump(artifacts), "audit": [step.done(
        "rendered manifests", message=", ".join(written.values()) or "kept in state", image=image,
        argv=args, written=list(written.values()))]}

"""The Docker run spec: keyword arguments for the Docker SDK's ``containers.run``, as JSON."""

from __future__ import annotations

from typing import Any

LABEL_PREFIX = "modeldeploy."


def docker_run_spec(*, name: str, image: str, entrypoint: list[str] | None, args: list[str], env: dict[str, str],
                    container_port: int, host_port: int, weights_host_path: str, weights_mount: str, gpus: int,
                    labels: dict[str, str], ipc_host: bool | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "image": image,
        "name": name,
        "command": args,
        "detach": True,
        "init": True,  # a Python PID 1 ignores SIGTERM; tini forwards it
        "environment": env,
        "labels": {f"{LABEL_PREFIX}{k}": v for k, v in labels.items()},
        "ports": {f"{container_port}/tcp": ["127.0.0.1", host_port]},
        "volumes": {weights_host_path: {"bind": weights_mount, "mode": "ro"}},
    }
    if entrypoint:
        spec["entrypoint"] = entrypoint
    if gpus:
        spec["device_requests"] = [{"driver": "nvidia", "count": gpus, "capabilities": [["gpu"]]}]
    # NCCL needs more than Docker's 64 MB /dev/shm with several GPUs; one GPU still uses shm for its workers
    if ipc_host if ipc_host is not None else gpus > 1:
        spec["ipc_mode"] = "host"
    elif gpus:
        spec["shm_size"] = "2g"
    return spec

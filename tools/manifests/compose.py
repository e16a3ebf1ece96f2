"""A docker-compose file equivalent to the Docker run spec."""

from __future__ import annotations

from typing import Any

import yaml


def compose_yaml(run_spec: dict[str, Any]) -> str:
    ports = [f"{host[0]}:{host[1]}:{cport.split('/')[0]}" for cport, host in run_spec["ports"].items()]
    # Long syntax: a ':' in a path cannot be mistaken for the separator.
    volumes = [{"type": "bind", "source": src, "target": m["bind"], "read_only": m["mode"] == "ro"}
               for src, m in run_spec["volumes"].items()]
    service: dict[str, Any] = {
        "image": run_spec["image"],
        "container_name": run_spec["name"],
        "command": run_spec["command"],
        "init": True,
        "environment": run_spec["environment"],
        "labels": run_spec["labels"],
        "ports": ports,
        "volumes": volumes,
        "restart": "unless-stopped",
    }
    if run_spec.get("entrypoint"):
        service["entrypoint"] = run_spec["entrypoint"]
    if run_spec.get("ipc_mode"):
        service["ipc"] = run_spec["ipc_mode"]
    if run_spec.get("shm_size"):
        service["shm_size"] = run_spec["shm_size"]
    for req in run_spec.get("device_requests", []):
        service["deploy"] = {"resources": {"reservations": {"devices": [
            {"driver": req["driver"], "count": req["count"], "capabilities": ["gpu"]}]}}}
    return yaml.safe_dump({"services": {run_spec["name"]: service}}, sort_keys=False)

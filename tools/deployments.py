"""Deployments across the registry and the runtimes: list what is live, remove one completely."""

from __future__ import annotations

import re
from typing import Any

from modeldeploy.errors import ModelDeployError, UserInputError
from modeldeploy.schemas.run import DEPLOYMENT_NAME

_NAME = re.compile(DEPLOYMENT_NAME)


def _docker():
    try:
        from modeldeploy.tools.runtimes.docker_runtime import DockerRuntime

        return DockerRuntime()
    except ModelDeployError:
        return None


def live_deployments() -> list[dict[str, Any]]:
    """Registry rows with the live state of their server, plus labelled servers the registry does not know."""
    from modeldeploy.experience_store import list_deployments, open_database
    from modeldeploy.tools.runtimes.process_runtime import ProcessRuntime

    with open_database() as db:
        rows = {r["name"]: {**r, "live": None} for r in list_deployments(db)}
    docker_rt = _docker()
    running = (docker_rt.list() if docker_rt else []) + ProcessRuntime().list()
    for server in running:
        row = rows.setdefault(server["name"], {"name": server["name"], "status": "unregistered", "runtime": None,
                                               "endpoint": None, "served_model_name": None})
        row["live"] = server["status"]
        row["container_id"] = server.get("container_id") or row.get("container_id")
    return list(rows.values())


def remove_deployment(name: str) -> dict[str, Any]:
    """Remove the servers (docker and process), the gateway entry, and mark the registry row removed."""
    from modeldeploy.experience_store import get_deployment, open_database, upsert_deployment
    from modeldeploy.graph.context import Context
    from modeldeploy.nodes.register import gateway_path
    from modeldeploy.tools.gateway.litellm_config import remove_model
    from modeldeploy.tools.runtimes.process_runtime import ProcessRuntime

    if not _NAME.match(name):
        raise UserInputError(f"invalid deployment name {name!r}")
    with open_database() as db:
        row = get_deployment(db, name)
        docker_rt = _docker()
        if docker_rt is None and row is not None and row["runtime"] == "docker":
            raise ModelDeployError("cannot reach the Docker engine to remove the container; nothing was changed")
        removed = (docker_rt.remove(name) if docker_rt else 0) + ProcessRuntime().remove(name)
        if row is None and removed == 0:
            unchecked = "" if docker_rt else " (the Docker engine is not reachable: its containers were not checked)"
            raise UserInputError(f"no deployment named {name}{unchecked}")
        gateway_removed = remove_model(gateway_path(Context()), name)
        if row is not None:
            upsert_deployment(db, name=name, status="removed", container_id=None)
    return {"name": name, "servers_removed": removed, "gateway_entry_removed": gateway_removed,
            "registered": row is not None}

"""Run inference servers as Docker containers, through the Docker SDK.

Everything modeldeploy creates carries ``modeldeploy.*`` labels, and each
deployment has a deterministic container name, so a re-run finds and reuses
its container and a clean-up finds everything to remove. All methods block:
graph nodes call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from modeldeploy.errors import ModelDeployError, UserInputError
from modeldeploy.tools.manifests.docker_spec import LABEL_PREFIX
from modeldeploy.tools.runtimes.images import registry_of, split_tag

DEPLOYMENT_LABEL = f"{LABEL_PREFIX}deployment"


@dataclass
class ServerState:
    status: str  # running | exited | created | missing | ...
    exit_code: int | None = None
    id: str | None = None
    host_port: int | None = None


def _client():
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=60)
        client.ping()
        return client
    except DockerException as exc:
        raise ModelDeployError(f"cannot reach the Docker engine: {str(exc).splitlines()[0][:160]}") from None


def _host_port(container: Any) -> int | None:
    """The host port of the container's first published port (how a reused server is reached)."""
    for bindings in (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).values():
        for binding in bindings or []:
            if binding.get("HostPort"):
                return int(binding["HostPort"])
    return None


def _one_line(exc: Exception) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return " ".join(str(text).split())[:300]


class DockerRuntime:
    kind = "docker"

    def __init__(self, client: Any = None):
        self.client = client or _client()

    # images ---------------------------------------------------------------
    def has_image(self, image: str) -> bool:
        from docker.errors import ImageNotFound

        try:
            self.client.images.get(image)
            return True
        except ImageNotFound:
            return False

    def pull(self, image: str, progress: Callable[[dict], None] | None = None) -> None:
        """Pull with per-layer progress; the user's ~/.docker/config.json credentials are used by the SDK."""
        from docker.errors import APIError, NotFound

        repo, tag = split_tag(image)
        try:
            for event in self.client.api.pull(repo, tag=tag or None, stream=True, decode=True):
                if "error" in event:
                    raise ModelDeployError(self._pull_error(image, event["error"]))
                if progress and event.get("id"):
                    detail = event.get("progressDetail") or {}
                    progress({"layer": event["id"], "status": event.get("status"),
                              "current": detail.get("current"), "total": detail.get("total")})
        except (NotFound, APIError) as exc:
            raise ModelDeployError(self._pull_error(image, _one_line(exc))) from None

    @staticmethod
    def _pull_error(image: str, message: str) -> str:
        registry = registry_of(image)
        lowered = message.lower()
        if any(s in lowered for s in ("not found", "manifest unknown", "pull access denied", "does not exist")):
            return f"image {image} not found in registry {registry}"
        if any(s in lowered for s in ("no such host", "dial tcp", "connection refused", "timeout", "server misbehaving")):
            return f"cannot pull {image}: registry {registry} is unreachable ({message[:120]})"
        return f"cannot pull {image} from {registry}: {message[:200]}"

    # containers -------------------------------------------------------------
    def _containers(self, name: str) -> list[Any]:
        by_label = self.client.containers.list(all=True, filters={"label": f"{DEPLOYMENT_LABEL}={name}"})
        by_name = [c for c in self.client.containers.list(all=True, filters={"name": f"^/{name}$"}) if c not in by_label]
        return by_label + by_name

    def find(self, name: str) -> ServerState:
        containers = self._containers(name)
        if not containers:
            return ServerState("missing")
        c = containers[0]
        c.reload()
        return ServerState(c.status, c.attrs.get("State", {}).get("ExitCode"), c.id, _host_port(c))

    def start(self, run_spec: dict[str, Any]) -> tuple[ServerState, bool]:
        """(state, reused): a running container of this deployment is reused; a dead one is replaced."""
        from docker.errors import APIError, ImageNotFound
        from docker.types import DeviceRequest

        name = run_spec["name"]
        current = self.find(name)
        if current.status == "running":
            return current, True
        if current.status != "missing":
            self.remove(name)
        kwargs = dict(run_spec)
        kwargs["ports"] = {k: tuple(v) for k, v in run_spec.get("ports", {}).items()}
        if run_spec.get("device_requests"):
            kwargs["device_requests"] = [DeviceRequest(**r) for r in run_spec["device_requests"]]
        try:
            container = self.client.containers.run(**kwargs)
        except ImageNotFound:
            self.remove(name)
            raise ModelDeployError(f"image {run_spec['image']} is not present locally (pull it first)") from None
        except APIError as exc:
            # A failed start (no GPU driver, port taken) leaves a container in state Created: remove it.
            self.remove(name)
            message = _one_line(exc)
            if "port is already allocated" in message or "address already in use" in message:
                port = next(iter(run_spec.get("ports", {}).values()), [None, None])[1]
                raise UserInputError(f"port {port} is taken on this host; choose another with --port") from None
            raise ModelDeployError(f"container {name} failed to start: {message}") from None
        container.reload()
        return ServerState(container.status, None, container.id), False

    def state(self, name: str) -> ServerState:
        return self.find(name)

    def logs(self, name: str, tail: int | None = 200) -> str:
        containers = self._containers(name)
        if not containers:
            return ""
        raw = containers[0].logs(stdout=True, stderr=True, tail=tail if tail is not None else "all")
        return raw.decode("utf-8", errors="replace")

    def remove(self, name: str) -> int:
        """Remove every container of this deployment (found by label and by name); returns how many."""
        from docker.errors import NotFound

        removed = 0
        for c in self._containers(name):
            try:
                c.remove(force=True)
                removed += 1
            except NotFound:
                pass
        return removed

    def list(self) -> list[dict[str, Any]]:
        out = []
        for c in self.client.containers.list(all=True, filters={"label": f"{LABEL_PREFIX}managed=true"}):
            labels = c.labels
            out.append({"name": labels.get(DEPLOYMENT_LABEL, c.name), "container_id": c.id, "status": c.status,
                        "image": (c.image.tags or [c.attrs.get("Config", {}).get("Image")])[0] if c.image else None,
                        "framework": labels.get(f"{LABEL_PREFIX}framework"), "model": labels.get(f"{LABEL_PREFIX}model")})
        return out

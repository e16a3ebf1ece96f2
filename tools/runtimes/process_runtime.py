"""Run inference servers as local processes, with the same contract as the Docker runtime.

For the CPU path and development: the vLLM CPU build, ``transformers serve``,
``llama-server`` or the simulator, started from a Python environment the user
names. Each deployment has a state directory under
``$MODELDEPLOY_HOME/deployments/<name>/`` (``process.json`` and ``server.log``);
the process carries ``MODELDEPLOY_DEPLOYMENT=<name>`` in its environment so
that a PID reused by something else is never mistaken for ours.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from modeldeploy import settings
from modeldeploy.errors import ModelDeployError
from modeldeploy.tools.atomic_write import write_text_atomic
from modeldeploy.tools.runtimes.docker_runtime import ServerState

MARKER = "MODELDEPLOY_DEPLOYMENT"
_children: dict[str, subprocess.Popen] = {}


def _state_dir(name: str) -> Path:
    return settings.home_dir() / "deployments" / name


def _is_ours(pid: int, name: str) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"{MARKER}={name}".encode() in environ


def resolve_command(command: list[str], python_env: str | None) -> list[str]:
    """Put the user's environment in front: DIR/bin/python, DIR/bin/llama-server, ..."""
    if not python_env:
        return command
    bin_dir = Path(python_env).expanduser() / "bin"
    head = bin_dir / command[0]
    if not head.exists():
        raise ModelDeployError(f"{head} does not exist: is {python_env} the environment that has the server installed?")
    return [str(head), *command[1:]]


def _inherited_env() -> dict[str, str]:
    """Our environment without the LLM provider's keys: a model server (possibly running the model's
    own code) has no use for the orchestrator's credentials."""
    return {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}


class ProcessRuntime:
    kind = "process"

    def _record(self, name: str) -> dict[str, Any] | None:
        path = _state_dir(name) / "process.json"
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def find(self, name: str) -> ServerState:
        child = _children.get(name)
        if child is not None and child.poll() is not None:
            return ServerState("exited", child.returncode, str(child.pid))
        record = self._record(name)
        if not record:
            return ServerState("missing")
        pid = int(record["pid"])
        if _is_ours(pid, name):
            return ServerState("running", None, str(pid), record.get("port"))
        return ServerState("exited", record.get("exit_code"), str(pid))

    def start(self, spec: dict[str, Any]) -> tuple[ServerState, bool]:
        """spec: name, argv, env, cwd. Reuses a live process of this deployment."""
        name = spec["name"]
        current = self.find(name)
        if current.status == "running":
            return current, True
        directory = _state_dir(name)
        directory.mkdir(parents=True, exist_ok=True)
        log = open(directory / "server.log", "ab")
        env = {**_inherited_env(), **spec.get("env", {}), MARKER: name}
        try:
            child = subprocess.Popen(spec["argv"], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     env=env, cwd=spec.get("cwd"), start_new_session=True)
        except OSError as exc:
            raise ModelDeployError(f"cannot start {spec['argv'][0]}: {exc.strerror}") from None
        finally:
            log.close()
        _children[name] = child
        # a re-run after a crash or `ps` reads it at any moment
        write_text_atomic(directory / "process.json", json.dumps({"pid": child.pid, "argv": spec["argv"],
                                                                  "port": spec.get("port"), "started": time.time()}))
        return ServerState("running", None, str(child.pid), spec.get("port")), False

    def state(self, name: str) -> ServerState:
        return self.find(name)

    def logs(self, name: str, tail: int | None = 200) -> str:
        path = _state_dir(name) / "server.log"
        if not path.exists():
            return ""
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(lines[-tail:] if tail else lines)

    def remove(self, name: str, grace_s: float = 10.0) -> int:
        record = self._record(name)
        removed = 0
        if record and _is_ours(int(record["pid"]), name):
            pid = int(record["pid"])
            try:
                os.killpg(pid, signal.SIGTERM)
                deadline = time.monotonic() + grace_s
                while _is_ours(pid, name) and time.monotonic() < deadline:
                    child = _children.get(name)
                    if child is not None and child.poll() is not None:
                        break
                    time.sleep(0.05)
                if _is_ours(pid, name) and (name not in _children or _children[name].poll() is None):
                    os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            removed = 1
        child = _children.pop(name, None)
        if child is not None:
            try:
                child.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                child.kill()
        (_state_dir(name) / "process.json").unlink(missing_ok=True)
        return removed

    def list(self) -> list[dict[str, Any]]:
        root = settings.home_dir() / "deployments"
        out = []
        for directory in sorted(root.glob("*/")) if root.exists() else []:
            state = self.find(directory.name)
            if state.status != "missing":
                out.append({"name": directory.name, "container_id": None, "pid": state.id, "status": state.status})
        return out


def runtime_for(kind: str):
    """The runtime object for a request's `runtime`."""
    if kind == "process":
        return ProcessRuntime()
    if kind == "docker":
        from modeldeploy.tools.runtimes.docker_runtime import DockerRuntime

        return DockerRuntime()
    raise ModelDeployError(f"runtime {kind!r} is not available yet")

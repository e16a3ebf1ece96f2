"""Fill a framework's launch template from typed slots: the only way arguments reach a command line."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from modeldeploy.catalog import FrameworkSpec
from modeldeploy.schemas.decision import Decision

_SAFE_FLAG = re.compile(r"^--?[A-Za-z0-9][A-Za-z0-9-]*$")


@dataclass
class LaunchValues:
    """Everything the template needs beyond the decision's slots."""

    model_path: str
    served_model_name: str
    port: int
    host: str = "0.0.0.0"


def deployment_name(model_name: str, framework: str, key: str) -> str:
    """A deterministic DNS-1123 name (valid for Docker and Kubernetes): md-<model>-<framework>-<hash>."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:6]
    base = re.sub(r"[^a-z0-9-]+", "-", f"md-{model_name}-{framework}".lower()).strip("-")
    return f"{base[: 63 - 7].rstrip('-')}-{digest}"


def container_model_path(host_path: str, name: str, is_file: bool) -> str:
    """Where the weights appear inside the container (mounted read-only)."""
    base = PurePosixPath("/models") / name
    return str(base / PurePosixPath(host_path).name) if is_file else str(base)


def render_args(spec: FrameworkSpec, decision: Decision, values: LaunchValues) -> list[str]:
    """argv from the catalog template; null slots are left out, switches only when true."""
    slots: dict[str, Any] = {**decision.slots.model_dump(), "model_path": values.model_path,
                             "served_model_name": values.served_model_name, "port": values.port, "host": values.host,
                             "metrics": True, "jinja": True, "continuous_batching": True}
    if slots.get("kv_cache_dtype") == "auto":
        slots["kv_cache_dtype"] = None
    args: list[str] = []
    for arg in spec.launch.args:
        if arg.device and arg.device != decision.device:
            continue
        value = arg.value if arg.value is not None else slots.get(arg.slot)
        if arg.switch:
            if value:
                args.append(arg.flag)
        elif value is not None and arg.flag:
            args.extend([arg.flag, str(value)])
        elif value is not None:
            if str(value).startswith("-"):  # a positional value must never be read as a flag
                raise ValueError(f"positional launch value {str(value)[:80]!r} starts with '-'")
            args.append(str(value))
    for flag in decision.slots.extra_flags:
        if flag in spec.allowed_extra_flags and _SAFE_FLAG.match(flag):
            args.append(flag)
    return args


def render_env(spec: FrameworkSpec, decision: Decision) -> dict[str, str]:
    env = dict(spec.launch.env)
    if decision.device == "cpu":
        for key, template in spec.launch.cpu_env.items():
            value = template.format(**decision.slots.model_dump())
            if value and value != "None":
                env[key] = value
    return env

"""Upsert deployments into a LiteLLM proxy config's ``model_list``.

The file is the user's: other keys and entries are kept, ours are found by
``model_info.id`` (the deployment name), writes are atomic (temp file and
rename) and serialised with a lock file, so concurrent deployments do not
lose each other's entries.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import yaml

from modeldeploy.errors import ModelDeployError


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ModelDeployError(f"{path}: not valid YAML ({exc.__class__.__name__}); not touching it") from None
    if not isinstance(data, dict) or not isinstance(data.get("model_list", []), list):
        raise ModelDeployError(f"{path}: not a LiteLLM config (expected a mapping with a model_list list)")
    return data


def _save(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        yaml.safe_dump(data, fh, sort_keys=False)
    os.replace(tmp, path)


def entry_for(deployment: str, served_model_name: str, api_base: str, public_name: str | None = None) -> dict[str, Any]:
    """A model_list entry: LiteLLM's OpenAI-compatible provider pointed at our endpoint.

    `public_name` is what clients of the gateway ask for when the server only knows
    the model by its path (transformers serve)."""
    return {
        "model_name": public_name or served_model_name,
        "litellm_params": {"model": f"openai/{served_model_name}", "api_base": api_base, "api_key": "none"},
        "model_info": {"id": deployment, "managed_by": "modeldeploy"},
    }


def upsert_model(path: Path, deployment: str, served_model_name: str, api_base: str,
                 public_name: str | None = None) -> None:
    with _locked(path):
        data = _load(path)
        models = [m for m in data.get("model_list", []) if (m.get("model_info") or {}).get("id") != deployment]
        models.append(entry_for(deployment, served_model_name, api_base, public_name))
        data["model_list"] = models
        _save(path, data)


def remove_model(path: Path, deployment: str) -> bool:
    """Drop our entry; True when there was one."""
    if not path.exists():
        return False
    with _locked(path):
        data = _load(path)
        before = data.get("model_list", [])
        after = [m for m in before if (m.get("model_info") or {}).get("id") != deployment]
        if len(after) == len(before):
            return False
        data["model_list"] = after
        _save(path, data)
        return True

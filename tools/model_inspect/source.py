"""Decide whether a model reference is a local directory, a GGUF file or a hub repo id.

Model references are hostile input: a repo id must match the hub's grammar and
may not contain path traversal; a path must exist and be a directory or a
``.gguf`` file.
"""

from __future__ import annotations

import re
from pathlib import Path

from modeldeploy.errors import UserInputError
from modeldeploy.schemas.model import ModelSource

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,127}$")


def _looks_like_path(ref: str) -> bool:
    return ref.startswith(("/", "./", "../", "~")) or ref.endswith(".gguf") or ref.count("/") > 1 or "\\" in ref


def resolve_source(ref: str, revision: str | None = None) -> ModelSource:
    """Classify `ref`; raise UserInputError with one line when it is unusable."""
    ref = ref.strip()
    if not ref:
        raise UserInputError("model reference is empty")
    if "\x00" in ref or any(ord(c) < 32 for c in ref):
        raise UserInputError("model reference contains control characters")
    if revision is not None and (not _REVISION.match(revision) or ".." in revision):
        raise UserInputError(f"invalid revision {revision!r}")

    path = Path(ref).expanduser()
    if path.exists():
        resolved = path.resolve()
        if resolved.is_dir():
            return ModelSource(kind="local_dir", ref=ref, path=str(resolved))
        if resolved.is_file() and resolved.suffix.lower() == ".gguf":
            return ModelSource(kind="gguf_file", ref=ref, path=str(resolved))
        if resolved.is_file() and resolved.name == "config.json":
            return ModelSource(kind="local_dir", ref=ref, path=str(resolved.parent))
        raise UserInputError(f"{ref}: not a model directory or a .gguf file")
    if _looks_like_path(ref) or ".." in ref.split("/"):
        if ".." in Path(ref).parts and not ref.startswith(("/", "./", "../", "~")):
            raise UserInputError(f"invalid model id {ref!r}: path traversal is not allowed")
        raise UserInputError(f"{ref}: no such file or directory")
    if ".." in ref or not _REPO_ID.match(ref):
        raise UserInputError(f"invalid model id {ref!r}: expected a local path or a hub id like 'org/name'")
    return ModelSource(kind="hf_repo", ref=ref, repo_id=ref, revision=revision)

"""Prompt templates as files, rendered with only the facts a step needs (``$name`` placeholders)."""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from string import Template


@functools.cache
def _template(name: str) -> Template:
    return Template(resources.files("modeldeploy.prompts").joinpath(f"{name}.md").read_text(encoding="utf-8"))


def render(name: str, **values: object) -> str:
    """Fill prompt `name` (file prompts/<name>.md); a missing value is a bug, so it raises."""
    return _template(name).substitute({k: str(v) for k, v in values.items()})


def prompt_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]

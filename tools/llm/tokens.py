"""Token counts: the provider's usage when it reports one, else an estimate that says so."""

from __future__ import annotations

import math
from typing import Any


def estimate_tokens(text: str) -> int:
    """About four characters a token for English/JSON prompts; an estimate, labelled as such where used."""
    return math.ceil(len(text) / 4)


def usage_of(message: Any) -> tuple[int, int] | None:
    """(prompt, completion) tokens from a LangChain AIMessage, or None when the provider gave none."""
    meta = getattr(message, "usage_metadata", None)
    if meta and (meta.get("input_tokens") or meta.get("output_tokens")):
        return int(meta.get("input_tokens", 0)), int(meta.get("output_tokens", 0))
    return None

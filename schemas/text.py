"""Text bounds shared by the schemas and the log digest."""

from __future__ import annotations

FATAL_MAX_CHARS = 1200
"""A decisive log line is kept verbatim up to this size; longer ones (vLLM prints every supported
architecture on one line) keep their head and tail. The full line stays in the log on disk."""


def elide_middle(text: str, limit: int) -> str:
    """`text` within `limit` characters: its head and tail around " […] "."""
    if len(text) <= limit:
        return text
    keep = max(limit - 5, 2)
    head = keep * 2 // 3
    return text[:head] + " […] " + text[len(text) - (keep - head):]

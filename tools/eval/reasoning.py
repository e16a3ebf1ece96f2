"""Reasoning text is not the answer: split `<think>` blocks off a response before extraction.

Servers with a reasoning parser return the thinking in `reasoning_content` (or `reasoning`) and the answer in
`content`; without one the thinking arrives inline as `<think>...</think>`. Chat templates that open `<think>`
in the prompt leave only the closing tag in the output. A `<think>` never closed (a truncated response) leaves
no answer at all, which is what it is.
"""

from __future__ import annotations

import re

_BLOCK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


def split_reasoning(content: str | None) -> tuple[str, str]:
    """(answer text, reasoning text) of a message's content."""
    text = content or ""
    thoughts = [m.group(1) for m in _BLOCK.finditer(text)]
    text = _BLOCK.sub("", text)
    if "</think>" in text:  # the opening tag was in the prompt
        head, _, text = text.rpartition("</think>")
        thoughts.insert(0, head)
    if "<think>" in text:  # opened, never closed: everything after it is thinking
        text, _, tail = text.partition("<think>")
        thoughts.append(tail)
    return text.strip(), "\n".join(t.strip() for t in thoughts if t.strip())

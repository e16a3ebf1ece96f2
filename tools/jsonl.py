"""JSON Lines read for people: each non-blank line parsed, a bad one named by file and line number."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from modeldeploy.errors import UserInputError


def jsonl_values(text: str, where: str) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-blank line; a line that is not JSON is a one-line
    UserInputError "`where`:N: not JSON (...)"."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserInputError(f"{where}:{number}: not JSON ({exc.msg})") from None

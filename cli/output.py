"""What every command prints with --json: exactly one JSON document on stdout."""

from __future__ import annotations

import json
import sys
from typing import Any


def echo_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")

"""Turn what LangGraph yields (pydantic models, dataclasses, Interrupts, messages, tuples) into JSON."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any
from uuid import UUID

from pydantic import BaseModel


def _default(obj: Any) -> Any:
    from langgraph.types import Interrupt

    if isinstance(obj, Interrupt):
        return {"value": obj.value, "id": obj.id}
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    if isinstance(obj, (UUID, PurePath)):
        return str(obj)
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, bytes):
        return obj.decode("utf-8", errors="replace")
    if isinstance(obj, BaseException):
        return {"error": type(obj).__name__, "message": str(obj)}
    if hasattr(obj, "_asdict"):
        return obj._asdict()
    return repr(obj)


def dumps(obj: Any) -> str:
    """Compact JSON text; anything JSON does not know becomes its nearest JSON shape (or its repr)."""
    return json.dumps(obj, default=_default, ensure_ascii=False, separators=(",", ":"))


def to_json(obj: Any) -> Any:
    """The JSON value of `obj` (a round trip through `dumps`)."""
    return json.loads(dumps(obj))

"""Small helpers shared by the route modules: the app's services, JSON bodies, query flags."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from modeldeploy.api.config import ApiSettings
from modeldeploy.api.errors import ApiError, validation_detail
from modeldeploy.api.jsonable import dumps

M = TypeVar("M", bound=BaseModel)


@dataclass
class Services:
    settings: ApiSettings
    graphs: Any
    threads: Any
    runs: Any


def services(request: Request) -> Services:
    return request.app.state.services


async def parse(request: Request, model: type[M], *, optional: bool = False) -> M:
    """The JSON body as `model`; 422 with the reasons when it is not valid JSON or not valid."""
    raw = await request.body()
    if not raw.strip():
        if optional:
            return model()
        raise ApiError(422, "a JSON body is required")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(422, f"body is not valid JSON: {exc}") from None
    if data is None and optional:
        return model()
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, validation_detail(exc)) from None


def flag(request: Request, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in ("1", "true", "yes")


def int_param(request: Request, name: str, default: int, low: int = 0, high: int = 1000) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, f"query parameter {name} must be an integer") from None
    if not low <= value <= high:
        raise ApiError(422, f"query parameter {name} must be between {low} and {high}")
    return value


class Json(JSONResponse):
    """JSONResponse that also encodes pydantic models, Interrupts and datetimes."""

    def render(self, content: Any) -> bytes:
        return dumps(content).encode()

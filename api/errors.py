"""Errors the API answers with: a status code and a JSON `{"detail": ...}` body, never a traceback."""

from __future__ import annotations

import logging

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from modeldeploy.errors import ModelDeployError, UserInputError

log = logging.getLogger("modeldeploy.api")


class ApiError(Exception):
    """An error with the HTTP status to answer it with."""

    def __init__(self, status: int, detail: str | list | dict) -> None:
        super().__init__(str(detail))
        self.status = status
        self.detail = detail


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


def validation_detail(exc: ValidationError) -> list[dict]:
    """Pydantic errors without the offending input echoed back in full."""
    return [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors(include_url=False)]


async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, status_code=exc.status)


async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _validation(_: Request, exc: ValidationError) -> JSONResponse:
    return JSONResponse({"detail": validation_detail(exc)}, status_code=422)


async def _user_input(_: Request, exc: UserInputError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=400)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    message = str(exc) if isinstance(exc, ModelDeployError) else f"internal error ({type(exc).__name__})"
    return JSONResponse({"detail": message}, status_code=500)


EXCEPTION_HANDLERS = {
    ApiError: _api_error,
    HTTPException: _http_error,
    ValidationError: _validation,
    UserInputError: _user_input,
    Exception: _unexpected,
}

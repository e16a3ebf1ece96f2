"""Turn any exception raised by a tool into the one-line message of an MCP tool error result.

A client (often an LLM) reads this line to decide what to do next, so it names the
bad argument or the cause, never a traceback. `ModelDeployError` messages are
already written for people and pass through as they are.
"""

from __future__ import annotations

from mcp.types import CallToolResult, TextContent
from pydantic import ValidationError

from modeldeploy.errors import ModelDeployError

MAX_CHARS = 400


def _first_line(text: str) -> str:
    line = " ".join(text.strip().splitlines()[0].split()) if text.strip() else ""
    return line if len(line) <= MAX_CHARS else line[: MAX_CHARS - 1] + "…"


def _validation_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"invalid argument {where or 'input'}: {err.get('msg', 'invalid value')}{more}"


def one_line(exc: BaseException) -> str:
    """The message of `exc` on one line, at most MAX_CHARS characters."""
    if isinstance(exc, ValidationError):
        return _first_line(_validation_line(exc))
    if isinstance(exc, ModelDeployError):
        return _first_line(str(exc)) or exc.__class__.__name__
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)) and exc.filename:
        return _first_line(f"{exc.strerror or exc.__class__.__name__}: {exc.filename}")
    text = _first_line(str(exc))
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def error_result(message: str) -> CallToolResult:
    """An MCP tool result with isError set and `message` as its only content."""
    return CallToolResult(content=[TextContent(type="text", text=message)], isError=True)

"""`modeldeploy serve`: the HTTP API (LangGraph server protocol) on HOST:PORT; see docs/http-api.md."""

from __future__ import annotations

from typing import Annotated

import typer

from modeldeploy.api.config import DEFAULT_HOST, DEFAULT_PORT


def serve_command(
    host: Annotated[str, typer.Option(help="Address to bind. Anything but loopback needs MODELDEPLOY_API_TOKENS.")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = DEFAULT_PORT,
    log_level: Annotated[str, typer.Option(help="critical, error, warning, info or debug.")] = "info",
) -> None:
    """Serve the graphs over HTTP for langgraph_sdk / RemoteGraph clients (bearer-token auth)."""
    from modeldeploy.api.serve import serve
    from modeldeploy.errors import UserInputError

    if log_level not in ("critical", "error", "warning", "info", "debug"):
        raise UserInputError(f"--log-level {log_level!r}: one of critical, error, warning, info, debug")
    serve(host, port, log_level=log_level)

"""`modeldeploy mcp`: serve modeldeploy's tools over MCP (stdio for a local client, streamable HTTP for several).

    modeldeploy mcp                                   # stdio: what Claude Code, VS Code, Cursor start
    modeldeploy mcp --transport http --port 8765      # http://127.0.0.1:8765/mcp

The tools act as the user running the server: their Docker config, HF token and
kubeconfig (see docs/mcp.md). Mount with `app.command("mcp")(mcp_command)`.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer


class Transport(str, Enum):
    stdio = "stdio"
    http = "http"


def mcp_command(
    transport: Annotated[Transport, typer.Option(help="stdio (one client, started by it) or http (streamable HTTP).")]
    = Transport.stdio,
    host: Annotated[str, typer.Option(help="http: address to listen on (off loopback needs MODELDEPLOY_API_TOKENS).")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="http: port (0: a free one, printed on stderr).")] = 8765,
) -> None:
    """Serve the MCP tools (toolkits deploy, test, bench, eval, logs, experience; enabled per session)."""
    from modeldeploy.mcp_server.transports import run_http, run_stdio

    if transport is Transport.stdio:
        run_stdio()
    else:
        run_http(host, port)

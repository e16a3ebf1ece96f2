"""Serve the MCP server over stdio or streamable HTTP.

stdio: the protocol gets private copies of file descriptors 0 and 1; fd 0 then
reads /dev/null and fd 1 goes to stderr, so nothing else the process (or a child
it starts) reads or prints can corrupt the JSON-RPC stream.

HTTP: streamable HTTP at `/mcp`, one MCP session per `Mcp-Session-Id` (stateful:
toolkit activations live in the session). The socket is bound before serving
(port 0 picks a free one) and `serving on http://HOST:PORT/mcp` is printed on
stderr once it listens. Off loopback the server requires bearer tokens (the HTTP
API's: MODELDEPLOY_API_TOKENS / MODELDEPLOY_API_TOKENS_FILE); on loopback they are
enforced when set, and FastMCP's DNS-rebinding protection checks Host and Origin.
"""

from __future__ import annotations

import os
import socket
import sys
from io import TextIOWrapper
from typing import BinaryIO

import anyio

from modeldeploy.errors import UserInputError
from modeldeploy.mcp_server.server import ModelDeployMCP, build_server

PATH = "/mcp"


def _private_stdio() -> tuple[BinaryIO, BinaryIO]:
    """(protocol input, protocol output) on duplicated descriptors; fd 0 becomes /dev/null and fd 1 stderr."""
    sys.stdout.flush()
    proto_in, proto_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return os.fdopen(proto_in, "rb", buffering=0), os.fdopen(proto_out, "wb")


async def _serve_stdio(server: ModelDeployMCP, reader: BinaryIO, writer: BinaryIO) -> None:
    from mcp.server.stdio import stdio_server

    stdin = anyio.wrap_file(TextIOWrapper(reader, encoding="utf-8", errors="replace"))
    stdout = anyio.wrap_file(TextIOWrapper(writer, encoding="utf-8", write_through=True))
    low = server._mcp_server  # FastMCP's low-level server: the documented way to run it on custom streams
    async with stdio_server(stdin=stdin, stdout=stdout) as (read_stream, write_stream):
        await low.run(read_stream, write_stream, low.create_initialization_options())


def run_stdio() -> None:
    """Serve one client on this process's stdin/stdout until it closes stdin."""
    server = build_server()
    reader, writer = _private_stdio()
    anyio.run(_serve_stdio, server, reader, writer)


def _is_loopback(host: str) -> bool:
    from modeldeploy.api.auth import is_loopback

    return is_loopback(host)


def _tokens(host: str) -> tuple[str, ...]:
    from modeldeploy.api.config import load_tokens

    tokens = load_tokens()
    if not tokens and not _is_loopback(host):
        raise UserInputError(f"refusing to serve MCP on {host} without authentication: set MODELDEPLOY_API_TOKENS "
                             "(comma-separated) or MODELDEPLOY_API_TOKENS_FILE, or bind to 127.0.0.1")
    return tokens


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise UserInputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    return sock


def run_http(host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve streamable HTTP on host:port (0: a free port) until interrupted."""
    import uvicorn

    from modeldeploy.api.auth import BearerAuth

    tokens = _tokens(host)
    server = build_server(host=host, port=port, streamable_http_path=PATH)
    app = server.streamable_http_app()
    if tokens:
        app = BearerAuth(app, tokens)
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    print(f"modeldeploy mcp: serving on http://{shown}:{bound}{PATH}", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])

"""How the MCP server is started and reached: the `mcp_command` CLI function, bearer tokens, loopback only.

Off loopback an unauthenticated server would let anyone on the network deploy
containers as the user: it must refuse to start; with tokens set, requests
without one are refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from mcp import ClientSession
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_servers import SERVER_MODULE, http_server, stdio_parameters

ROOT = Path(__file__).resolve().parents[2]
# `mcp_command` mounted as the only command of a Typer app, as cli/main.py mounts it as `modeldeploy mcp`
CLI_ARGV = [sys.executable, "-c", "import typer; from modeldeploy.cli.mcp import mcp_command; "
                                  "app = typer.Typer(); app.command()(mcp_command); app()"]
DISCOVERY = {"modeldeploy_list_toolkits", "modeldeploy_describe_toolkit", "modeldeploy_enable_toolkit"}


async def test_the_cli_command_serves_streamable_http():
    with http_server(argv=CLI_ARGV) as url:
        async with streamable_http_client(url) as (read, write, _), ClientSession(read, write) as session:
            init = await session.initialize()
            assert init.serverInfo.name == "modeldeploy" and init.capabilities.tools.listChanged is True
            assert {t.name for t in (await session.list_tools()).tools} == DISCOVERY


async def test_the_cli_command_serves_stdio():
    params = stdio_parameters()
    params.args = CLI_ARGV[1:] + ["--transport", "stdio"]
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        assert {t.name for t in (await session.list_tools()).tools} == DISCOVERY


async def test_bearer_tokens_are_enforced_when_set():
    env = {**os.environ, "MODELDEPLOY_API_TOKENS": "s3cret-token"}
    with http_server(env=env) as url:
        async with httpx.AsyncClient() as plain:
            refused = await plain.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                       headers={"Accept": "application/json, text/event-stream"})
        assert refused.status_code == 401
        async with httpx.AsyncClient(headers={"Authorization": "Bearer s3cret-token"}) as authed, \
                streamable_http_client(url, http_client=authed) as (read, write, _), \
                ClientSession(read, write) as session:
            await session.initialize()
            assert {t.name for t in (await session.list_tools()).tools} == DISCOVERY


@pytest.mark.parametrize("argv", [[sys.executable, "-m", SERVER_MODULE], CLI_ARGV], ids=["module", "cli"])
def test_refuses_to_listen_off_loopback_without_tokens(argv):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELDEPLOY_API_TOKENS")}
    proc = subprocess.run([*argv, "--transport", "http", "--host", "0.0.0.0", "--port", "0"], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=60)
    assert proc.returncode != 0
    assert "refusing to serve MCP on 0.0.0.0 without authentication" in proc.stderr

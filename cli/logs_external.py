"""`modeldeploy logs query`: call a tool of an MCP server the user configured (a company log service...).

    modeldeploy logs query                                   # the configured servers
    modeldeploy logs query company-logs                      # its tools and their arguments
    modeldeploy logs query company-logs query_logs --arg service=llm-inference --arg since_minutes=30
    modeldeploy logs query company-logs query_logs --arg service=llm-inference --digest [--budget 1500] [--json]

The servers come from `$MODELDEPLOY_MCP_SERVERS` or `$MODELDEPLOY_HOME/mcp_servers.json`
(langchain-mcp-adapters' MultiServerMCPClient format; `--config FILE` names another file);
see `modeldeploy.tools.logs.external` and docs/mcp.md. `--digest` runs the same token-budgeted
digest as `logs digest` over the text the tool returned. `--json` prints one JSON object:
the tool list, the tool's text, or the digest document of `logs digest --json`.

Bad configuration, an unknown server, tool or argument: one line on stderr, exit 2
(`UserInputError`, mapped by the main CLI); an unreachable or failing server: exit 1.
Registered by the logs app as ``app.command("query")(logs_query_command)``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from modeldeploy.tools.logs.digest import DEFAULT_BUDGET, MIN_BUDGET


def _write_json(doc: object) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")


def logs_query_command(
    server: Annotated[str | None, typer.Argument(help="A configured MCP server (none: list the servers).")] = None,
    tool: Annotated[str | None, typer.Argument(help="The tool to call (none: list the server's tools).")] = None,
    arg: Annotated[list[str] | None, typer.Option("--arg", help="A tool argument NAME=VALUE (repeatable); "
                                                  "non-string parameters are read as JSON (30, true, [1,2]).")] = None,
    digest: Annotated[bool, typer.Option("--digest", help="Digest the returned text like `logs digest`.")] = False,
    budget: Annotated[int, typer.Option("--budget", min=MIN_BUDGET,
                                        help="--digest: the digest's hard limit in tokens.")] = DEFAULT_BUDGET,
    tail: Annotated[int, typer.Option("--tail", min=0, help="--digest: last lines kept verbatim.")] = 20,
    config: Annotated[Path | None, typer.Option("--config", help="The servers file (default: $MODELDEPLOY_MCP_SERVERS, "
                                                "else $MODELDEPLOY_HOME/mcp_servers.json).")] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Seconds for the whole exchange with the server.")] = 60.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Call a tool of an MCP server you configured (e.g. your company's log service); --digest digests its text."""
    from modeldeploy.errors import UserInputError
    from modeldeploy.tools.logs import external

    servers = external.load_servers(config)
    if (digest or arg) and tool is None:
        raise UserInputError("--arg and --digest need a TOOL: modeldeploy logs query SERVER TOOL ...")
    if server is None:
        _print_servers(servers, as_json)
        return
    arguments = external.parse_arg_pairs(arg or [])
    if tool is None:
        tools = asyncio.run(external.list_tools(server, servers=servers, timeout_s=timeout))
        _print_tools(server, tools, as_json)
        return
    result = asyncio.run(external.call_tool(server, tool, arguments, servers=servers, timeout_s=timeout))
    if digest:
        doc = external.digest_text(result, budget_tokens=budget, tail_lines=tail)
        if as_json:
            _write_json(doc.model_dump(mode="json"))
        else:
            typer.echo(doc.render())
    elif as_json:
        _write_json({"server": result.server, "tool": result.tool, "text": result.text})
    else:
        sys.stdout.write(result.text if result.text.endswith("\n") or not result.text else result.text + "\n")


def _print_servers(servers: dict, as_json: bool) -> None:
    from urllib.parse import urlsplit

    def target(conn: dict) -> str:  # the executable, or the URL without credentials or query: never env, args, headers
        if "url" not in conn:
            return conn["command"]
        parts = urlsplit(conn["url"])
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        return f"{parts.scheme}://{host}{parts.path}"

    rows = [{"name": s.name, "transport": s.transport, "target": target(s.connection)} for s in servers.values()]
    if as_json:
        _write_json({"servers": rows})
        return
    for row in rows:
        typer.echo(f"{row['name']}  {row['transport']}  {row['target']}")


def _print_tools(server: str, tools: list[dict], as_json: bool) -> None:
    if as_json:
        _write_json({"server": server, "tools": tools})
        return
    for t in tools:
        props = t["input_schema"].get("properties") or {}
        required = set(t["input_schema"].get("required") or [])
        args = ", ".join(f"{name}{'' if name in required else '?'}: {spec.get('type', 'any')}"
                         for name, spec in props.items())
        summary = t["description"].splitlines()[0] if t["description"] else ""
        typer.echo(f"{t['name']}({args})  {summary}".rstrip())

"""Tools of MCP servers the user configures (a company log-query server...), for the logs workflow.

The configuration is a JSON file in langchain-mcp-adapters' `MultiServerMCPClient` format:
``$MODELDEPLOY_MCP_SERVERS`` when set, else ``$MODELDEPLOY_HOME/mcp_servers.json``::

    {"company-logs": {"transport": "stdio", "command": "company-logs-mcp", "args": ["--region", "eu"],
                      "env": {"LOGS_TOKEN": "${COMPANY_LOGS_TOKEN}"}},
     "loki": {"transport": "streamable_http", "url": "https://logs.internal/mcp",
              "headers": {"Authorization": "Bearer ${LOKI_TOKEN}"}}}

Transports: ``stdio`` (command, args, env, cwd, encoding, encoding_error_handler),
``streamable_http`` (url, headers, timeout, sse_read_timeout, terminate_on_close; ``http``
and ``streamable-http`` are accepted spellings) and ``sse`` (url, headers, timeout,
sse_read_timeout). ``${VAR}`` in an ``env`` or ``headers`` value is taken from our
environment, so the file need not hold the secret; a missing variable is an error.

Credentials come from this file (and the variables it names) only. They are passed to the
server and nowhere else: never logged, never part of a result, and removed from every error
message (some servers echo what they were given). A stdio server's stderr is kept out of the
terminal and only its last line, redacted, explains a server that died.

`list_tools(server)` and `call_tool(server, tool, arguments)` open one session each, load the
tools with langchain-mcp-adapters (`load_mcp_tools`) and call them as LangChain tools;
`digest_text` gives a tool's text the same budgeted digest as `logs digest`. Bad
configuration, an unknown server, tool or argument raise `UserInputError` (one line, exit 2);
a server that cannot be reached, dies, times out or returns an error raises `ModelDeployError`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from modeldeploy import settings
from modeldeploy.errors import ModelDeployError, UserInputError

CONFIG_ENV = "MODELDEPLOY_MCP_SERVERS"
CONFIG_FILE = "mcp_servers.json"
DEFAULT_TIMEOUT_S = 60.0

_HTTP_KEYS = {"url", "headers", "timeout", "sse_read_timeout"}
ALLOWED_KEYS: dict[str, set[str]] = {
    "stdio": {"command", "args", "env", "cwd", "encoding", "encoding_error_handler"},
    "streamable_http": _HTTP_KEYS | {"terminate_on_close"},
    "sse": set(_HTTP_KEYS),
}
_TRANSPORT_ALIASES = {"http": "streamable_http", "streamable-http": "streamable_http"}
_SERVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class ServerConfig:
    """One configured server: its adapters connection, and the values that must never be shown."""

    name: str
    connection: dict[str, Any]
    secrets: list[str] = field(default_factory=list, repr=False)

    @property
    def transport(self) -> str:
        return self.connection["transport"]

    def redact(self, text: str) -> str:
        """`text` with every credential of this server replaced by ***."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


@dataclass
class ToolResult:
    """What a tool returned: its text blocks joined by newlines."""

    server: str
    tool: str
    text: str


# -- configuration --------------------------------------------------------------------------------------

def config_path() -> Path:
    """$MODELDEPLOY_MCP_SERVERS, else $MODELDEPLOY_HOME/mcp_servers.json."""
    named = os.environ.get(CONFIG_ENV)
    return Path(named).expanduser() if named else settings.home_dir() / CONFIG_FILE


def _expand(value: str, where: str) -> str:
    def var(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise UserInputError(f"{where} uses ${{{name}}}, which is not set in the environment")
        return os.environ[name]

    return _VAR.sub(var, value)


def _string_map(value: Any, where: str) -> dict[str, str]:
    # never put a value into these messages: these maps hold the credentials
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise UserInputError(f"{where} must be an object of strings")
    return {k: _expand(v, f"{where}[{k!r}]") for k, v in value.items()}


def _server(name: str, entry: Any, source: str) -> ServerConfig:
    where = f"{source}: server {name!r}"
    if not _SERVER_NAME.match(name):
        raise UserInputError(f"{source}: invalid server name {name[:40]!r} (letters, digits, '_', '.', '-')")
    if not isinstance(entry, dict):
        raise UserInputError(f"{where} must be an object")
    transport = entry.get("transport")
    if transport is None:
        raise UserInputError(f"{where} has no \"transport\" (one of: {', '.join(ALLOWED_KEYS)})")
    transport = _TRANSPORT_ALIASES.get(transport, transport) if isinstance(transport, str) else transport
    if transport not in ALLOWED_KEYS:
        raise UserInputError(f"{where}: unknown transport {str(transport)[:40]!r} (one of: {', '.join(ALLOWED_KEYS)})")
    unknown = sorted(set(entry) - ALLOWED_KEYS[transport] - {"transport"})
    if unknown:
        raise UserInputError(f"{where}: unknown key(s) {', '.join(repr(k[:40]) for k in unknown)} for transport {transport} "
                             f"(allowed: {', '.join(sorted(ALLOWED_KEYS[transport]))})")
    conn: dict[str, Any] = {"transport": transport}
    secrets: list[str] = []
    if transport == "stdio":
        command, args = entry.get("command"), entry.get("args", [])
        if not isinstance(command, str) or not command.strip():
            raise UserInputError(f"{where} needs \"command\" (a string)")
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise UserInputError(f"{where}: \"args\" must be a list of strings")
        conn.update(command=command, args=list(args))
        if "env" in entry:
            conn["env"] = _string_map(entry["env"], f"{where}: env")
            secrets += conn["env"].values()
        for key in ("cwd", "encoding", "encoding_error_handler"):
            if key in entry:
                if not isinstance(entry[key], str):
                    raise UserInputError(f"{where}: \"{key}\" must be a string")
                conn[key] = entry[key]
    else:
        url = entry.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise UserInputError(f"{where} needs \"url\" (http:// or https://)")
        conn["url"] = url
        if parts.password:
            secrets.append(parts.password)
        if "headers" in entry:
            conn["headers"] = _string_map(entry["headers"], f"{where}: headers")
            secrets += conn["headers"].values()
            for value in conn["headers"].values():  # "Bearer abc": the token alone may appear in a message too
                secrets += [word for word in value.split() if len(word) >= 8]
        for key in ("timeout", "sse_read_timeout"):
            if key in entry:
                if isinstance(entry[key], bool) or not isinstance(entry[key], (int, float)) or entry[key] <= 0:
                    raise UserInputError(f"{where}: \"{key}\" must be a positive number of seconds")
                conn[key] = float(entry[key])
        if "terminate_on_close" in entry:
            if not isinstance(entry["terminate_on_close"], bool):
                raise UserInputError(f"{where}: \"terminate_on_close\" must be true or false")
            conn["terminate_on_close"] = entry["terminate_on_close"]
    return ServerConfig(name, conn, [s for s in secrets if len(s) >= 4])


def load_servers(path: str | Path | None = None) -> dict[str, ServerConfig]:
    """The configured servers, validated (`UserInputError` with one line for anything wrong)."""
    source = Path(path).expanduser() if path else config_path()
    if not source.is_file():
        if path:
            raise UserInputError(f"no such MCP server configuration: {source}")
        if os.environ.get(CONFIG_ENV):
            raise UserInputError(f"{CONFIG_ENV} names {source}, which is not a file")
        raise UserInputError(f"no MCP servers configured: write {source} (or set {CONFIG_ENV} to a JSON file); "
                             "see docs/mcp.md")
    try:
        doc = json.loads(source.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{source} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"cannot read {source}: {getattr(exc, 'strerror', None) or exc.__class__.__name__}") from None
    if not isinstance(doc, dict):
        raise UserInputError(f"{source} must hold a JSON object: {{\"name\": {{\"transport\": ...}}, ...}}")
    if not doc:
        raise UserInputError(f"{source} configures no MCP servers")
    return {name: _server(name, entry, str(source)) for name, entry in doc.items()}


def get_server(name: str, servers: dict[str, ServerConfig] | None = None) -> ServerConfig:
    servers = load_servers() if servers is None else servers
    if name not in servers:
        raise UserInputError(f"unknown MCP server {name[:64]!r} (configured: {', '.join(sorted(servers))})")
    return servers[name]


# -- sessions -------------------------------------------------------------------------------------------

def _leaf(exc: BaseException) -> BaseException:
    """The first non-group exception inside (anyio task groups wrap transport errors)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _one_line(text: str, limit: int = 240) -> str:
    return " ".join(text.split())[:limit]


def _last_line(errlog: Any) -> str:
    if errlog is None:
        return ""
    try:
        errlog.flush()
        errlog.seek(0)
        lines = [line.strip() for line in errlog.read().splitlines() if line.strip()]
    except (OSError, ValueError):
        return ""
    return lines[-1] if lines else ""


@asynccontextmanager
async def _session(server: ServerConfig, errlog: Any) -> AsyncIterator[Any]:
    """An initialized MCP ClientSession. stdio: its stderr goes to `errlog`; the rest through the adapters."""
    if server.transport == "stdio":
        from mcp import ClientSession, StdioServerParameters
        from mcp.client.stdio import stdio_client

        conn = server.connection
        params = StdioServerParameters(command=conn["command"], args=conn["args"], env=conn.get("env"),
                                       cwd=conn.get("cwd"), encoding=conn.get("encoding", "utf-8"),
                                       encoding_error_handler=conn.get("encoding_error_handler", "strict"))
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session
    else:
        from langchain_mcp_adapters.client import MultiServerMCPClient

        async with MultiServerMCPClient({server.name: server.connection}).session(server.name) as session:
            yield session


@asynccontextmanager
async def open_tools(server: ServerConfig, timeout_s: float = DEFAULT_TIMEOUT_S) -> AsyncIterator[list[Any]]:
    """The server's tools as LangChain tools (langchain-mcp-adapters), on one session, within `timeout_s`.

    Failures to start, reach or talk to the server become one redacted line (`ModelDeployError`;
    `UserInputError` when a stdio command does not exist).
    """
    import anyio
    from langchain_mcp_adapters.tools import load_mcp_tools

    errlog = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") if server.transport == "stdio" else None
    failure: BaseException | None = None
    try:
        with anyio.fail_after(timeout_s):
            async with _session(server, errlog) as session:
                tools = await load_mcp_tools(session, server_name=server.name, handle_tool_errors=False)
                try:
                    yield tools
                except BaseException as exc:  # the caller's own errors pass through untouched (not a timeout)
                    if not isinstance(exc, anyio.get_cancelled_exc_class()):
                        failure = exc
                    raise
    except BaseException as exc:
        if failure is not None:  # the caller's error, perhaps wrapped in a task group's: the caller's, as raised
            raise failure from None
        if isinstance(exc, (ModelDeployError, KeyboardInterrupt)):
            raise
        raise _connection_error(server, exc, errlog, timeout_s) from None
    finally:
        if errlog is not None:
            errlog.close()


def _connection_error(server: ServerConfig, exc: BaseException, errlog: Any, timeout_s: float) -> ModelDeployError:
    leaf = _leaf(exc)
    what = f"MCP server {server.name!r} ({server.transport})"
    if isinstance(leaf, TimeoutError):
        return ModelDeployError(f"{what} did not answer within {timeout_s:g} s")
    if isinstance(leaf, FileNotFoundError) and server.transport == "stdio":
        return UserInputError(server.redact(f"{what}: command not found: {server.connection['command']}"))
    detail = _one_line(str(leaf)) or leaf.__class__.__name__
    stderr = _last_line(errlog)
    message = f"cannot talk to {what}: {leaf.__class__.__name__}: {detail}"
    if stderr:
        message += f" (its last stderr line: {_one_line(stderr, 200)})"
    return ModelDeployError(server.redact(message))


# -- calls ----------------------------------------------------------------------------------------------

def _schema(tool: Any) -> dict[str, Any]:
    schema = tool.args_schema
    if isinstance(schema, dict):
        return schema
    return schema.model_json_schema() if schema is not None else {}


def describe(tool: Any) -> dict[str, Any]:
    """A tool's name, description and input schema (JSON Schema)."""
    return {"name": tool.name, "description": (tool.description or "").strip(), "input_schema": _schema(tool)}


def _coerce(value: Any, spec: dict[str, Any]) -> Any:
    """A command-line string for a non-string parameter is read as JSON (30, true, [1, 2]); else kept."""
    if not isinstance(value, str):
        return value
    types = spec.get("type")
    types = set(types) if isinstance(types, list) else {types} if types else set()
    for option in spec.get("anyOf", []) + spec.get("oneOf", []):
        if isinstance(option, dict) and option.get("type"):
            types.add(option["type"])
    if not types or "string" in types:
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def check_arguments(server: str, tool: Any, arguments: dict[str, Any]) -> dict[str, Any]:
    """Arguments checked against the tool's input schema (unknown and missing names), strings coerced."""
    schema = _schema(tool)
    props: dict[str, Any] = schema.get("properties") or {}
    unknown = [k for k in arguments if props and k not in props]
    if unknown:
        raise UserInputError(f"tool {tool.name!r} of MCP server {server!r} has no argument {unknown[0][:40]!r} "
                             f"(arguments: {', '.join(props) or 'none'})")
    missing = [k for k in schema.get("required", []) if k not in arguments]
    if missing:
        raise UserInputError(f"tool {tool.name!r} of MCP server {server!r} needs --arg {missing[0]}=VALUE")
    return {k: _coerce(v, props.get(k, {})) for k, v in arguments.items()}


def _find(server: str, tools: list[Any], name: str) -> Any:
    tool = next((t for t in tools if t.name == name), None)
    if tool is None:
        raise UserInputError(f"MCP server {server!r} has no tool {name[:64]!r} "
                             f"(tools: {', '.join(t.name for t in tools) or 'none'})")
    return tool


def content_text(content: Any) -> str:
    """The text of a tool's content: a string, or its text blocks joined by newlines (other blocks named)."""
    if isinstance(content, str):
        return content
    parts = []
    for block in content if isinstance(content, list) else [content]:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(block.get("text", ""))
        elif isinstance(block, dict):
            parts.append(f"[{block.get('type', 'non-text')} content]")
        else:
            parts.append(str(block))
    return "\n".join(parts)


async def list_tools(server: str, *, servers: dict[str, ServerConfig] | None = None,
                     timeout_s: float = DEFAULT_TIMEOUT_S) -> list[dict[str, Any]]:
    """The tools a configured server offers: name, description, input schema."""
    config = get_server(server, servers)
    async with open_tools(config, timeout_s) as tools:
        return [describe(t) for t in tools]


async def call_tool(server: str, tool: str, arguments: dict[str, Any] | None = None, *,
                    servers: dict[str, ServerConfig] | None = None,
                    timeout_s: float = DEFAULT_TIMEOUT_S) -> ToolResult:
    """Call `tool` of a configured server with `arguments` (command-line strings are coerced by the schema)."""
    from langchain_core.tools import ToolException

    config = get_server(server, servers)
    async with open_tools(config, timeout_s) as tools:
        found = _find(server, tools, tool)
        args = check_arguments(server, found, dict(arguments or {}))
        try:
            content = await found.ainvoke(args)
        except ToolException as exc:
            raise ModelDeployError(config.redact(f"tool {tool!r} of MCP server {server!r} failed: "
                                                 f"{_one_line(str(exc)) or 'no message'}")) from None
    return ToolResult(server=server, tool=tool, text=content_text(content))


def parse_arg_pairs(pairs: list[str]) -> dict[str, str]:
    """`["service=llm", "since_minutes=30"]` -> a dict (a repeated name: the last value wins)."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UserInputError(f"--arg wants NAME=VALUE, got {pair[:60]!r}")
        out[name.strip()] = value
    return out


def digest_text(result: ToolResult, budget_tokens: int, tail_lines: int = 20):
    """The `LogDigest` of a tool's text (the same digest as `logs digest`)."""
    from modeldeploy.tools.logs.digest import digest_log

    return digest_log(result.text, budget_tokens=budget_tokens, tail_lines=tail_lines,
                      source_name=f"mcp {result.server}/{result.tool}")

"""The FastMCP server: `tools.listChanged` advertised, tools listed and callable per session, one-line errors.

FastMCP 1.x registers tools globally and passes no `NotificationOptions`, so it
advertises `tools.listChanged: false`. `ModelDeployMCP` fixes both: its
initialization options advertise `listChanged: true` (stdio and every streamable
HTTP session use `create_initialization_options`), `list_tools` returns the
discovery tools plus the toolkits the calling session enabled, and `call_tool`
refuses any other tool. A failing tool becomes an error result with one line
(never a traceback); the server keeps serving.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.server.lowlevel import NotificationOptions
from mcp.types import CallToolResult, ContentBlock, ListToolsRequest, ListToolsResult, Tool

from modeldeploy.mcp_server.activation import SessionActivations
from modeldeploy.mcp_server.errors import error_result, one_line
from modeldeploy.mcp_server.registry import ToolSpec, toolkit_of, toolkits

SERVER_NAME = "modeldeploy"
INSTRUCTIONS = (
    "modeldeploy plans, deploys, smoke-tests, load-tests and evaluates LLM servers and digests their logs. "
    "Only the discovery tools are listed at first: call modeldeploy_list_toolkits, then "
    "modeldeploy_enable_toolkit with a toolkit name; its result lists the new tools with their input schemas. "
    "The tools act as the user running this server (their Docker config, HF token and kubeconfig)."
)


def _with_list_changed(create_options):
    """Wrap the low-level server's `create_initialization_options` so that tools.listChanged is advertised."""

    def create(notification_options: NotificationOptions | None = None,
               experimental_capabilities: dict[str, dict[str, Any]] | None = None):
        options = notification_options or NotificationOptions()
        options.tools_changed = True
        return create_options(options, experimental_capabilities)

    return create


class ModelDeployMCP(FastMCP):
    """FastMCP with per-session toolkits."""

    def __init__(self, **settings: Any) -> None:
        settings.setdefault("log_level", "WARNING")  # INFO would print every library's chatter (alembic) on stderr
        super().__init__(name=SERVER_NAME, instructions=INSTRUCTIONS, **settings)
        self.activations = SessionActivations()
        low = self._mcp_server
        low.create_initialization_options = _with_list_changed(low.create_initialization_options)

    def current_session(self) -> Any:
        """The `ServerSession` of the request being handled, or None outside a request."""
        try:
            return self._mcp_server.request_context.session
        except LookupError:
            return None

    async def list_tools(self, request: ListToolsRequest) -> ListToolsResult:  # type: ignore[override]
        """A client's tools/list: the discovery tools and the tools of the toolkits its session enabled.

        The low-level server also calls this with no request, to refresh the tool definitions it validates calls
        against: that gets every tool (whether a session may call one is `call_tool`'s check).
        """
        tools = await super().list_tools()
        if request is None:
            return ListToolsResult(tools=tools)
        session = self.current_session()
        listed = [t for t in tools if self.activations.allows(session, t.name)]
        # a ListToolsResult (not a list) only adds to the low-level server's shared tool cache instead of
        # replacing it with this session's view
        return ListToolsResult(tools=listed)

    async def all_tools(self) -> list[Tool]:
        """Every registered tool, whatever the session (for describe and enable results)."""
        return await super().list_tools()

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> Sequence[ContentBlock] | dict[str, Any] | CallToolResult:
        if self._tool_manager.get_tool(name) is None:
            return error_result(f"unknown tool {name!r}")
        if not self.activations.allows(self.current_session(), name):
            return error_result(f"tool {name} is not enabled in this session: call modeldeploy_enable_toolkit "
                                f"with toolkit={toolkit_of(name)!r} first")
        try:
            return await self._tool_manager.call_tool(name, arguments, context=self.get_context(), convert_result=True)
        except ToolError as exc:  # FastMCP wraps what the tool raised (including argument validation errors)
            return error_result(one_line(exc.__cause__ or exc))
        except Exception as exc:  # noqa: BLE001 - a tool's failure must never take the server down
            return error_result(one_line(exc))

    def add_spec(self, spec: ToolSpec) -> None:
        self.add_tool(spec.fn, name=spec.name, title=spec.title, description=spec.description,
                      annotations=spec.annotations())


def build_server(host: str = "127.0.0.1", port: int = 8000, **settings: Any) -> ModelDeployMCP:
    """The server with the discovery tools and every toolkit's tools registered (listing is per session)."""
    from modeldeploy.mcp_server.discovery import DISCOVERY

    server = ModelDeployMCP(host=host, port=port, **settings)
    for spec in DISCOVERY:
        server.add_spec(spec)
    for kit in toolkits().values():
        for spec in kit.tools:
            server.add_spec(spec)
    return server

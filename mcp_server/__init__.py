"""modeldeploy as an MCP server (`mcp` 1.x FastMCP): tools grouped into toolkits, enabled per session.

At connect a client sees only the discovery tools (`modeldeploy_list_toolkits`,
`modeldeploy_describe_toolkit`, `modeldeploy_enable_toolkit`); enabling a toolkit
adds its tools to that session alone, returns their schemas and sends
`notifications/tools/list_changed` (the server advertises `tools.listChanged`).

Modules: `registry` (toolkits and their tools), `activation` (which toolkits each
session enabled), `server` (the FastMCP subclass: capabilities, per-session
listing, guarded calls), `discovery` (the three meta-tools), `toolkits/` (the
tools, one module per toolkit), `progress` (worker-thread progress to MCP
progress notifications), `errors` (one-line tool errors), `transports` (stdio and
streamable HTTP). Run it with `python -m modeldeploy.mcp_server` or `modeldeploy mcp`.
"""

from modeldeploy.mcp_server.server import ModelDeployMCP, build_server

__all__ = ["ModelDeployMCP", "build_server"]

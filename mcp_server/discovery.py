"""The discovery tools, listed in every session: list the toolkits, describe one, enable one.

`modeldeploy_enable_toolkit` enables a toolkit for the calling session only,
returns the new tools' names and input schemas in its own result (clients such as
VS Code apply a changed list only on the next turn) and sends
`notifications/tools/list_changed` on the same request's stream.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.fastmcp import Context
from mcp.types import ServerNotification, ToolListChangedNotification
from pydantic import Field

from modeldeploy.errors import UserInputError
from modeldeploy.mcp_server.registry import DESCRIBE_TOOLKIT, ENABLE_TOOLKIT, LIST_TOOLKITS, ToolSpec, toolkits

ToolkitName = Annotated[str, Field(description="A toolkit name from modeldeploy_list_toolkits, e.g. 'deploy'.")]


def _kit(name: str):
    kit = toolkits().get(name.strip().lower())
    if kit is None:
        raise UserInputError(f"unknown toolkit {name!r} (known: {', '.join(toolkits())})")
    return kit


async def _schemas(ctx: Context, names: list[str]) -> list[dict[str, Any]]:
    by_name = {t.name: t for t in await ctx.fastmcp.all_tools()}
    return [{"name": n, "title": by_name[n].title, "description": by_name[n].description,
             "inputSchema": by_name[n].inputSchema} for n in names]


async def list_toolkits(ctx: Context) -> dict[str, Any]:
    """List the modeldeploy toolkits (deploy, test, bench, eval, logs, experience) with their tools and whether this
    session has enabled them. Enable one with modeldeploy_enable_toolkit."""
    enabled = ctx.fastmcp.activations.enabled(ctx.session)
    return {"toolkits": [{"name": kit.name, "summary": kit.summary, "tools": kit.tool_names,
                          "enabled": kit.name in enabled} for kit in toolkits().values()]}


async def describe_toolkit(toolkit: ToolkitName, ctx: Context) -> dict[str, Any]:
    """Describe one toolkit: its tools with their descriptions and input schemas, without enabling it."""
    kit = _kit(toolkit)
    return {"name": kit.name, "summary": kit.summary, "enabled": kit.name in ctx.fastmcp.activations.enabled(ctx.session),
            "tools": await _schemas(ctx, kit.tool_names)}


async def enable_toolkit(toolkit: ToolkitName, ctx: Context) -> dict[str, Any]:
    """Enable a toolkit for this session: its tools are listed from now on (tools/list_changed is sent) and this
    result carries their names and input schemas, so they can be called right away."""
    kit = _kit(toolkit)
    newly = ctx.fastmcp.activations.enable(ctx.session, kit.name)
    if newly:
        await ctx.session.send_notification(ServerNotification(ToolListChangedNotification()),
                                            related_request_id=ctx.request_id)
    return {"toolkit": kit.name, "newly_enabled": newly,
            "enabled_toolkits": sorted(ctx.fastmcp.activations.enabled(ctx.session)),
            "tools": await _schemas(ctx, kit.tool_names)}


DISCOVERY = (
    ToolSpec(list_toolkits, LIST_TOOLKITS, "List modeldeploy toolkits", read_only=True, idempotent=True),
    ToolSpec(describe_toolkit, DESCRIBE_TOOLKIT, "Describe a modeldeploy toolkit", read_only=True, idempotent=True),
    ToolSpec(enable_toolkit, ENABLE_TOOLKIT, "Enable a modeldeploy toolkit in this session", idempotent=True),
)

"""The toolkits: named groups of tools a session enables together, and the discovery tool names.

Each module of `modeldeploy.mcp_server.toolkits` defines one `TOOLKIT`; `toolkits()`
collects them in a fixed order. Tool names are unique across toolkits (checked
here), so a tool name alone tells which toolkit it belongs to.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from mcp.types import ToolAnnotations

LIST_TOOLKITS = "modeldeploy_list_toolkits"
DESCRIBE_TOOLKIT = "modeldeploy_describe_toolkit"
ENABLE_TOOLKIT = "modeldeploy_enable_toolkit"
DISCOVERY_TOOLS = (LIST_TOOLKITS, DESCRIBE_TOOLKIT, ENABLE_TOOLKIT)
"""Listed in every session from the start. Prefixed so that they cannot be confused with the `activate_*`
stubs some clients (VS Code) generate for themselves."""

TOOLKIT_MODULES = ("deploy", "test", "bench", "eval", "logs", "experience")


@dataclass(frozen=True)
class ToolSpec:
    """One tool: the function FastMCP wraps (its signature is the input schema) and how clients should treat it."""

    fn: Callable[..., Any]
    name: str
    title: str
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    open_world: bool = False
    long_running: bool = False

    @property
    def description(self) -> str:
        return " ".join((self.fn.__doc__ or self.title).split())

    def annotations(self) -> ToolAnnotations:
        return ToolAnnotations(title=self.title, readOnlyHint=self.read_only, destructiveHint=self.destructive,
                               idempotentHint=self.idempotent, openWorldHint=self.open_world)


@dataclass(frozen=True)
class Toolkit:
    """A named group of tools, enabled together in a session."""

    name: str
    summary: str
    tools: tuple[ToolSpec, ...] = field(default_factory=tuple)

    @property
    def tool_names(self) -> list[str]:
        return [t.name for t in self.tools]


@cache
def toolkits() -> dict[str, Toolkit]:
    """Every toolkit by name, in TOOLKIT_MODULES order; raises when two tools share a name."""
    found: dict[str, Toolkit] = {}
    owner: dict[str, str] = {name: "discovery" for name in DISCOVERY_TOOLS}
    for module in TOOLKIT_MODULES:
        kit: Toolkit = importlib.import_module(f"modeldeploy.mcp_server.toolkits.{module}").TOOLKIT
        for spec in kit.tools:
            if spec.name in owner:
                raise RuntimeError(f"tool {spec.name} is in toolkits {owner[spec.name]} and {kit.name}")
            owner[spec.name] = kit.name
        found[kit.name] = kit
    return found


@cache
def toolkit_of(tool_name: str) -> str | None:
    """The toolkit a tool belongs to; None for the discovery tools and unknown names."""
    return next((kit.name for kit in toolkits().values() if tool_name in kit.tool_names), None)

"""Which toolkits each MCP session has enabled.

FastMCP registers tools globally; this is the per-session view on top of it. A
session is the `ServerSession` object of one client connection (one per stdio
process, one per `Mcp-Session-Id` over streamable HTTP), held weakly so that a
closed session's activations go away with it. Nothing is shared between sessions.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from modeldeploy.errors import UserInputError
from modeldeploy.mcp_server.registry import DISCOVERY_TOOLS, toolkit_of, toolkits


class SessionActivations:
    """Enabled toolkit names per session."""

    def __init__(self) -> None:
        self._enabled: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def enabled(self, session: Any) -> set[str]:
        """The toolkits `session` enabled (a copy); none for no session."""
        if session is None:
            return set()
        with self._lock:
            return set(self._enabled.get(session, ()))

    def enable(self, session: Any, toolkit: str) -> bool:
        """Enable `toolkit` for `session`; True when it was not enabled before. Unknown names are a UserInputError."""
        if toolkit not in toolkits():
            raise UserInputError(f"unknown toolkit {toolkit!r} (known: {', '.join(toolkits())})")
        if session is None:
            raise UserInputError("no MCP session: toolkits are enabled per session")
        with self._lock:
            kits = self._enabled.setdefault(session, set())
            if toolkit in kits:
                return False
            kits.add(toolkit)
            return True

    def allows(self, session: Any, tool_name: str) -> bool:
        """Whether `session` may see and call `tool_name`: discovery tools always, others once their toolkit is on."""
        if tool_name in DISCOVERY_TOOLS:
            return True
        kit = toolkit_of(tool_name)
        return kit is not None and kit in self.enabled(session)

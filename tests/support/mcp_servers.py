"""The modeldeploy MCP server as a real subprocess, and what a test client needs around it.

`stdio_parameters()` starts `python -m modeldeploy.mcp_server` over stdio (with this
process's environment, so the test's MODELDEPLOY_HOME). `http_server()` starts it on
streamable HTTP on port 0 and returns the URL the server prints once it listens
(its stderr is the readiness signal: no sleeping, no port polling). `Inbox` is a
client message handler that records notifications and signals tools/list_changed.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
from mcp import StdioServerParameters, types

ROOT = Path(__file__).resolve().parents[2]
SERVER_MODULE = "modeldeploy.mcp_server"
READY_MARK = "modeldeploy mcp: serving on "


def stdio_parameters(*extra: str) -> StdioServerParameters:
    # the client passes only a minimal environment by default: hand over ours (MODELDEPLOY_HOME of the test)
    return StdioServerParameters(command=sys.executable, args=["-m", SERVER_MODULE, *extra], env=dict(os.environ),
                                 cwd=str(ROOT))


SERVER_ARGV = [sys.executable, "-m", SERVER_MODULE]


@contextmanager
def http_server(argv: list[str] | None = None, env: dict[str, str] | None = None,
                start_timeout: float = 60.0) -> Iterator[str]:
    """A server on a free loopback port (port 0); yields its MCP URL; stops it (and fails on a crash) afterwards.

    `argv` replaces the command (default `python -m modeldeploy.mcp_server`); the HTTP options are appended.
    """
    command = [*(argv or SERVER_ARGV), "--transport", "http", "--host", "127.0.0.1", "--port", "0"]
    proc = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=dict(os.environ if env is None else env))
    seen: list[str] = []
    try:
        url = _wait_for_url(proc, seen, start_timeout)
        drain = threading.Thread(target=lambda: seen.extend(line.decode(errors="replace") for line in proc.stderr),
                                 daemon=True)
        drain.start()
        yield url
        assert proc.poll() is None, f"the MCP server exited early: {''.join(seen)[-2000:]}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_url(proc: subprocess.Popen, seen: list[str], timeout: float) -> str:
    """Read stderr (unbuffered, so select never misses a line) until the server prints where it listens."""
    deadline, pending, fd = time.monotonic() + timeout, b"", proc.stderr.fileno()
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if not sel.select(left):
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"the MCP server exited before listening: {''.join(seen)[-2000:]}")
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                line = raw.decode(errors="replace")
                seen.append(line + "\n")
                if line.startswith(READY_MARK):
                    return line[len(READY_MARK):].strip()
    raise AssertionError(f"the MCP server did not listen within {timeout} s: {''.join(seen)[-2000:]}")


class Inbox:
    """Client message handler: keeps every server notification; `list_changed` is set on tools/list_changed."""

    def __init__(self) -> None:
        self.notifications: list[Any] = []
        self.list_changed = anyio.Event()

    async def __call__(self, message: Any) -> None:
        if isinstance(message, types.ServerNotification):
            self.notifications.append(message.root)
            if isinstance(message.root, types.ToolListChangedNotification):
                self.list_changed.set()

    def count(self, kind: type) -> int:
        return sum(isinstance(n, kind) for n in self.notifications)


def result_json(result: types.CallToolResult) -> Any:
    """The JSON document of a successful tool result (fails the test, with the message, on an error result)."""
    text = "".join(c.text for c in result.content if isinstance(c, types.TextContent))
    assert not result.isError, f"tool error: {text}"
    return json.loads(text)


def error_text(result: types.CallToolResult) -> str:
    """The message of an error result (fails the test when the call succeeded)."""
    assert result.isError, f"expected a tool error, got {result.content}"
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))

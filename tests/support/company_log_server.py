"""A stand-in "company log-query server": a small MCP server (mcp 1.x FastMCP) over stdio.

    python tests/support/company_log_server.py

What a team's own log service looks like to `modeldeploy logs query`: it needs a token
(`COMPANY_LOGS_TOKEN` in its environment, which the user's mcp_servers.json passes), lists its
services, and returns a service's recent log as text. The `llm-inference` service's log is a
real vLLM start-up failure (tests/fixtures/logs/vllm_oom.log: CUDA out of memory while loading
a 70B model on a T4). A wrong token is refused with a message that, like some real servers,
echoes the token back: the client must not print it.
"""

from __future__ import annotations

import os
from pathlib import Path

from mcp.server.fastmcp import FastMCP

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "company-logs-test-token-7f3a"
SERVICES = {"llm-inference": ROOT / "tests" / "fixtures" / "logs" / "vllm_oom.log",
            "gateway": None}
GATEWAY_LOG = "INFO gateway started\nINFO 200 POST /v1/chat/completions\nINFO 200 POST /v1/chat/completions\n"

mcp = FastMCP("company-logs", log_level="WARNING")


def _check_token() -> None:
    given = os.environ.get("COMPANY_LOGS_TOKEN", "")
    if given != TOKEN:
        raise PermissionError(f"token {given!r} rejected by company-logs")


@mcp.tool()
def list_services() -> list[str]:
    """The services whose logs this server keeps."""
    _check_token()
    return sorted(SERVICES)


@mcp.tool()
def query_logs(service: str, since_minutes: int = 60) -> str:
    """The last `since_minutes` minutes of a service's log, oldest line first."""
    _check_token()
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")
    if since_minutes <= 0:
        raise ValueError("since_minutes must be positive")
    path = SERVICES[service]
    return path.read_text() if path else GATEWAY_LOG


if __name__ == "__main__":
    mcp.run("stdio")

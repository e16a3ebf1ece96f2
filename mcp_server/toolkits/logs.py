"""Toolkit `logs`: digest a server log to a token budget, and diagnose why a server failed to start.

`digest_log` is `modeldeploy logs digest` (a file on the server's machine, or a
deployment's process log / container log); `diagnose_log` is `modeldeploy
diagnose` (the rules over the digest: category, fatal line, the launch change
that fixes it or what a person must do). Both read files and Docker: worker thread.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from modeldeploy.mcp_server.registry import Toolkit, ToolSpec
from modeldeploy.tools.logs.digest import DEFAULT_BUDGET, MIN_BUDGET


def _digest(source: str, budget: int, tail: int) -> dict[str, Any]:
    from modeldeploy.tools.logs import digest_log as digest
    from modeldeploy.tools.logs.sources import open_log_source

    lines, name = open_log_source(source)
    result = digest(lines, budget_tokens=budget, tail_lines=tail, source_name=name)
    return {**result.model_dump(mode="json"), "text": result.render()}


async def digest_log(
    source: Annotated[str, Field(description="A log file path on the server's machine, or a deployment name (its "
                                             "server.log, else its container's log).")],
    budget: Annotated[int, Field(ge=MIN_BUDGET, le=100_000, description="Hard limit of the digest in tokens.")]
    = DEFAULT_BUDGET,
    tail: Annotated[int, Field(ge=0, le=1000, description="Last lines kept verbatim.")] = 20,
) -> dict[str, Any]:
    """Digest a server log within a token budget: known failure signatures, the fatal line verbatim with its line
    number, deduplicated error/warning groups with counts, info templates and the last lines; `text` is the
    rendered digest."""
    return await asyncio.to_thread(_digest, source, budget, tail)


async def diagnose_log(
    file: Annotated[str, Field(description="A saved server log file on the server's machine.")],
) -> dict[str, Any]:
    """Diagnose a failed server start from its log: category, signature, the fatal line, and either a fix (launch
    slot changes such as dtype or max_model_len) or the action a person must take."""
    from modeldeploy.cli.diagnose import run_diagnosis

    return await asyncio.to_thread(run_diagnosis, Path(file).expanduser())


TOOLKIT = Toolkit(
    name="logs",
    summary="Digest a deployment's or a file's server log to a token budget; diagnose a failed start.",
    tools=(
        ToolSpec(digest_log, "digest_log", "Digest a server log", read_only=True, idempotent=True),
        ToolSpec(diagnose_log, "diagnose_log", "Diagnose a failed start from its log", read_only=True,
                 idempotent=True),
    ),
)

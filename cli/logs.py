"""`modeldeploy logs`: the digest of a server log, for people and for prompts.

    modeldeploy logs digest server.log [--budget 1500] [--tail 20] [--json]
    modeldeploy logs digest my-deployment          # its server.log, else its container's log

The digest keeps known failure signatures, the decisive (fatal) line verbatim
with its line number, deduplicated error and warning groups, the most frequent
info templates and the last lines, within a hard token budget; the full log stays
on disk and its line numbers address it. The main CLI mounts this app with
``app.add_typer(logs_app, name="logs")``; bad input raises `UserInputError`.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from modeldeploy.tools.logs.digest import DEFAULT_BUDGET, MIN_BUDGET

app = typer.Typer(name="logs", help="Digest server logs: signatures, the fatal line, deduplicated errors, the tail.",
                  no_args_is_help=True)


@app.callback()
def _logs() -> None:
    """Digest server logs: signatures, the fatal line, deduplicated errors, the tail."""


@app.command()
def digest(
    source: Annotated[str, typer.Argument(help="A log file, or a deployment name (its server.log or container log).")],
    budget: Annotated[int, typer.Option("--budget", min=MIN_BUDGET,
                                        help="Hard limit of the digest's size in tokens (characters / 4).")] = DEFAULT_BUDGET,
    tail: Annotated[int, typer.Option("--tail", min=0, help="How many last lines to keep verbatim.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (fatal, signatures, groups, tokens, ...).")] = False,
) -> None:
    """Digest a log: known signatures, the fatal line, error/warning groups with counts, info templates, the tail."""
    from modeldeploy.tools.logs import digest_log
    from modeldeploy.tools.logs.sources import open_log_source

    lines, name = open_log_source(source)
    result = digest_log(lines, budget_tokens=budget, tail_lines=tail, source_name=name)
    if as_json:
        sys.stdout.write(json.dumps(result.model_dump(mode="json"), ensure_ascii=False) + "\n")
    else:
        typer.echo(result.render())

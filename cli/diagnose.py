"""`modeldeploy diagnose FILE [--json]`: why a saved server log failed, and the launch change that fixes it.

The log is digested (`modeldeploy.tools.logs.digest`, streaming, so any size works) and the rules of
`modeldeploy.tools.diagnosis` read the digest, exactly as the deployment graph does after a failed start.
Without a plan or hardware the fix is what the log alone supports (e.g. the KV cache size it reports).

Mount it either way:

    app.add_typer(diagnose_app, name="diagnose")      # `app` from this module, a callback
    app.command("diagnose")(diagnose_command)         # the plain function
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from modeldeploy.errors import UserInputError

SNIFF_BYTES = 8192

app = typer.Typer(name="diagnose", add_completion=False, pretty_exceptions_enable=False,
                  # mounted with add_typer this is a group: let `--json` come after FILE too
                  context_settings={"allow_interspersed_args": True},
                  help="Diagnose a failed server start from its saved log: category, fatal line, fix.")


def _check_file(file: Path) -> None:
    """One-line errors for input that is not a readable text log."""
    if not file.exists():
        raise UserInputError(f"no such file: {file}")
    if file.is_dir():
        raise UserInputError(f"{file} is a directory, not a log file")
    try:
        with file.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise UserInputError(f"cannot read {file}: {exc.strerror or exc}") from None
    if b"\x00" in head:
        raise UserInputError(f"{file} is a binary file, not a text log")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a multi-byte character cut at the sniff boundary
            printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head)
            if printable < 0.9 * len(head):
                raise UserInputError(f"{file} is a binary file, not a text log") from None


def run_diagnosis(file: Path) -> dict[str, Any]:
    """The diagnosis of a log file as a JSON-ready document."""
    from modeldeploy.tools.diagnosis.rules import diagnose

    _check_file(file)
    digest = None
    try:
        from modeldeploy.tools.logs.digest import digest_log

        digest = digest_log(file)
    except ImportError:  # no (working) digest module: the rules read the raw text
        digest = None
    result = diagnose(digest) if digest is not None else diagnose(file)
    doc = {"file": str(file), **result.model_dump(mode="json")}
    if digest is not None:
        doc["digest_tokens"] = digest.tokens
        doc["total_lines"] = digest.total_lines
    return doc


def _fix_text(fix: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in fix.items())


def print_diagnosis(doc: dict[str, Any]) -> None:
    out = sys.stdout.write
    sig = f" ({doc['signature']})" if doc.get("signature") else ""
    out(f"category: {doc['category']}{sig}\n")
    if doc.get("fatal"):
        where = f" (line {doc['fatal_line']})" if doc.get("fatal_line") else ""
        out(f"fatal{where}: {doc['fatal']}\n")
    else:
        out("fatal: no decisive line found\n")
    if doc.get("fix"):
        approval = "  [needs a person's approval]" if doc.get("needs_approval") else ""
        out(f"fix: {_fix_text(doc['fix'])}{approval}\n")
    if doc.get("action_for_human"):
        out(f"a person must: {doc['action_for_human']}\n")
    out(f"why: {doc['reason']}\n")


@app.callback(invoke_without_command=True)
def diagnose_command(
    file: Annotated[Path, typer.Argument(help="A saved server log (docker logs, a process log).",
                                         show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON document on stdout.")] = False,
) -> None:
    """Diagnose a failed server start from its saved log: category, fatal line, fix or what a person must do."""
    doc = run_diagnosis(file)
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    else:
        print_diagnosis(doc)


__all__ = ["app", "diagnose_command", "run_diagnosis"]

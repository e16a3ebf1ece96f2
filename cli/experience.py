"""`modeldeploy experience`: curate the experience library by hand.

Every command opens the database named by ``MODELDEPLOY_DATABASE_URL`` (or the
default SQLite file) and migrates it if needed. Bad input raises
`UserInputError`; the main CLI prints it as one ``error: ...`` line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from modeldeploy.cli.output import echo_json
from modeldeploy.errors import UserInputError
from modeldeploy.experience_store import (
    Lesson,
    LessonScope,
    add_lesson,
    export_lessons,
    import_lessons,
    lesson_to_dict,
    list_lessons,
    open_database,
    promote_lesson,
    retrieve_lessons,
)

app = typer.Typer(
    name="experience",
    help="Curate the experience library: lessons learned from deployments.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of text.")]



@app.command()
def add(
    kind: Annotated[str, typer.Option(help="fix, rule or anti-pattern.")],
    text: Annotated[str, typer.Option(help="The lesson, one or two sentences.")],
    family: Annotated[str | None, typer.Option(help="Model family it applies to (default: any).")] = None,
    framework: Annotated[str | None, typer.Option(help="Serving framework it applies to (default: any).")] = None,
    framework_min_version: Annotated[str | None, typer.Option(help="Lowest framework version it applies to.")] = None,
    framework_max_version: Annotated[str | None, typer.Option(help="Highest framework version it applies to.")] = None,
    gpu_arch: Annotated[str | None, typer.Option(help="GPU architecture it applies to (default: any).")] = None,
    min_vram_mib: Annotated[int | None, typer.Option(help="Only for GPUs with at least this much VRAM.")] = None,
    fix: Annotated[str | None, typer.Option(help='Slot changes as JSON, e.g. \'{"max_model_len": 8192}\'.')] = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a human lesson (active at once)."""
    fix_slots = _parse_fix(fix)
    with open_database() as db:
        lesson = add_lesson(
            db,
            kind=kind,
            text=text,
            family=family,
            framework=framework,
            framework_min_version=framework_min_version,
            framework_max_version=framework_max_version,
            gpu_arch=gpu_arch,
            min_vram_mib=min_vram_mib,
            fix=fix_slots,
            source="human",
        )
    if as_json:
        echo_json(lesson_to_dict(lesson))
    else:
        typer.echo(f"lesson {lesson.id} ({lesson.status}): {lesson.text}")


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="candidate, active or retired (default: all).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List lessons."""
    with open_database() as db:
        lessons = list_lessons(db, status=status)
    if as_json:
        echo_json([lesson_to_dict(lesson) for lesson in lessons])
        return
    table = Table("id", "kind", "status", "strength", "evidence", "scope", "text")
    for lesson in lessons:
        table.add_row(
            str(lesson.id),
            lesson.kind,
            lesson.status,
            str(lesson.strength),
            str(len(lesson.evidence_run_ids or [])),
            _scope_text(lesson),
            lesson.text,
        )
    Console().print(table)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Words to look for, e.g. an error message.")],
    family: Annotated[str | None, typer.Option(help="Model family of the deployment.")] = None,
    framework: Annotated[str | None, typer.Option(help="Serving framework of the deployment.")] = None,
    framework_version: Annotated[str | None, typer.Option(help="Framework version of the deployment.")] = None,
    gpu_arch: Annotated[str | None, typer.Option(help="GPU architecture of the deployment.")] = None,
    vram_mib: Annotated[int | None, typer.Option(help="GPU VRAM of the deployment, MiB.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many lessons.")] = 5,
    as_json: JsonFlag = False,
) -> None:
    """Show the lessons a deployment with this scope would be given."""
    scope = LessonScope(
        family=family, framework=framework, framework_version=framework_version, gpu_arch=gpu_arch, vram_mib=vram_mib
    )
    with open_database() as db:
        found = retrieve_lessons(db, scope, query=query, limit=limit)
    if as_json:
        echo_json([item.to_dict() for item in found])
    elif not found:
        typer.echo("no matching lessons")
    else:
        for item in found:
            typer.echo(item.render())


@app.command("export")
def export(
    out: Annotated[Path | None, typer.Option(help="Write to this file instead of stdout.")] = None,
) -> None:
    """Export every lesson as a JSON list (for review, version control or another library)."""
    with open_database() as db:
        records = export_lessons(db)
    if out is None:
        echo_json(records)
        return
    try:
        out.write_text(json.dumps(records, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UserInputError(f"cannot write {out}: {exc.strerror}") from None
    typer.echo(f"exported {len(records)} lessons to {out}")


@app.command("import")
def import_(file: Annotated[Path, typer.Argument(help="A JSON file written by `experience export`.")]) -> None:
    """Import lessons from an export; lessons already present are skipped."""
    try:
        content = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserInputError(f"no such file: {file}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"cannot read {file}: {exc}") from None
    try:
        records = json.loads(content)
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{file} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    with open_database() as db:
        added, skipped = import_lessons(db, records)
    typer.echo(f"imported {added} lessons, skipped {skipped} already present")


@app.command()
def promote(lesson_id: Annotated[int, typer.Argument(help="The id shown by `experience list`.")]) -> None:
    """Vouch for a lesson: make it active (the only way a log-derived lesson becomes active)."""
    with open_database() as db:
        lesson = promote_lesson(db, lesson_id)
    typer.echo(f"lesson {lesson.id} is now {lesson.status}")


def _parse_fix(fix: str | None) -> dict[str, Any] | None:
    if fix is None:
        return None
    try:
        value = json.loads(fix)
    except json.JSONDecodeError as exc:
        raise UserInputError(f"--fix is not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(value, dict):
        raise UserInputError('--fix must be a JSON object of slot changes, e.g. \'{"max_model_len": 8192}\'')
    return value


def _scope_text(lesson: Lesson) -> str:
    parts = [f"{name}={value}" for name in ("family", "framework", "gpu_arch") if (value := getattr(lesson, name))]
    if lesson.framework_min_version or lesson.framework_max_version:
        parts.append(f"version {lesson.framework_min_version or '*'}..{lesson.framework_max_version or '*'}")
    if lesson.min_vram_mib is not None:
        parts.append(f"vram>={lesson.min_vram_mib}MiB")
    return " ".join(parts) or "any"

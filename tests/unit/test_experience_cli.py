"""`modeldeploy experience ...` as a person runs it, against a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from modeldeploy.cli.experience import app
from modeldeploy.errors import UserInputError
from modeldeploy.experience_store import add_lesson, list_lessons, open_database


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("MODELDEPLOY_DATABASE_URL", url)
    return url


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def ok(*args: str) -> str:
    result = cli(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def test_add_then_list_as_json(db_url: str) -> None:
    output = ok(
        "add", "--kind", "fix", "--text", "Lower max_model_len on 24 GB.", "--framework", "vLLM",
        "--min-vram-mib", "20000", "--fix", '{"max_model_len": 8192}', "--json",
    )  # fmt: skip
    added = json.loads(output)
    assert (added["status"], added["framework"], added["fix"]) == ("active", "vllm", {"max_model_len": 8192})
    listed = json.loads(ok("list", "--json"))
    assert [(item["id"], item["text"]) for item in listed] == [(added["id"], "Lower max_model_len on 24 GB.")]
    assert json.loads(ok("list", "--status", "retired", "--json")) == []


def test_add_and_list_as_text(db_url: str) -> None:
    added = ok("add", "--kind", "rule", "--text", "Use bf16.", "--gpu-arch", "ampere")
    assert added == "lesson 1 (active): Use bf16.\n"
    table = ok("list")
    assert "Use bf16." in table
    assert "gpu_arch=ampere" in table


def test_search_honours_scope(db_url: str) -> None:
    ok("add", "--kind", "fix", "--text", "vLLM: lower gpu memory utilization.", "--framework", "vllm")
    ok("add", "--kind", "fix", "--text", "TGI: set max total tokens.", "--framework", "tgi")
    found = json.loads(ok("search", "memory", "--framework", "vllm", "--json"))
    assert [(item["text"], item["advisory"]) for item in found] == [("vLLM: lower gpu memory utilization.", True)]
    assert ok("search", "memory", "--framework", "vllm").startswith("[lesson 1, active, evidence 0] vLLM:")
    assert json.loads(ok("search", "memory", "--framework", "sglang", "--json")) == []
    assert len(json.loads(ok("search", "anything", "--limit", "1", "--json"))) == 1


def test_search_without_matches_says_so(db_url: str) -> None:
    ok("add", "--kind", "rule", "--text", "Needs 80 GB.", "--min-vram-mib", "80000")
    assert ok("search", "oom", "--vram-mib", "24576") == "no matching lessons\n"


def test_export_import_round_trip(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ok("add", "--kind", "rule", "--text", "Use --ipc=host.")
    ok("add", "--kind", "anti-pattern", "--text", "Do not set tp above the GPU count.")
    exported = json.loads(ok("export"))
    out = tmp_path / "lessons.json"
    assert ok("export", "--out", str(out)) == f"exported 2 lessons to {out}\n"
    assert json.loads(out.read_text()) == exported

    monkeypatch.setenv("MODELDEPLOY_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    assert ok("import", str(out)) == "imported 2 lessons, skipped 0 already present\n"
    assert ok("import", str(out)) == "imported 0 lessons, skipped 2 already present\n"
    assert json.loads(ok("export")) == exported


def test_promote_activates_a_log_derived_lesson(db_url: str) -> None:
    with open_database(db_url) as db:
        lesson = add_lesson(db, kind="fix", text="From a log line.", source="agent", origin="log")
    assert ok("promote", str(lesson.id)) == f"lesson {lesson.id} is now active\n"
    with open_database(db_url) as db:
        assert [item.status for item in list_lessons(db)] == ["active"]


@pytest.mark.parametrize(
    ("args", "files", "message"),
    [
        pytest.param(["add", "--kind", "tip", "--text", "x"], {}, "unknown lesson kind 'tip'", id="unknown-kind"),
        pytest.param(["add", "--kind", "fix", "--text", " "], {}, "lesson text is empty", id="empty-text"),
        pytest.param(
            ["add", "--kind", "fix", "--text", "x", "--fix", "{max_model_len: 1}"],
            {},
            "--fix is not valid JSON",
            id="fix-not-json",
        ),
        pytest.param(
            ["add", "--kind", "fix", "--text", "x", "--fix", "[1]"], {}, "--fix must be a JSON object", id="fix-not-object"
        ),
        pytest.param(["list", "--status", "pending"], {}, "unknown lesson status", id="unknown-status"),
        pytest.param(["import", "missing.json"], {}, "no such file", id="import-missing-file"),
        pytest.param(["import", "bad.json"], {"bad.json": "[{"}, "is not valid JSON", id="import-not-json"),
        pytest.param(["import", "obj.json"], {"obj.json": "{}"}, "expects a JSON list", id="import-not-a-list"),
        pytest.param(
            ["import", "rec.json"], {"rec.json": '[{"kind": "rule"}]'}, "lesson record 0", id="import-bad-record"
        ),
        pytest.param(["promote", "42"], {}, "no lesson with id 42", id="promote-unknown-id"),
    ],
)
def test_bad_input_is_a_one_line_user_input_error(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, args: list[str], files: dict[str, str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, content in files.items():
        (tmp_path / name).write_text(content)
    result = cli(*args)
    assert isinstance(result.exception, UserInputError)
    assert message in str(result.exception)
    assert "\n" not in str(result.exception)
    assert result.exception.exit_code == 2
    assert result.stdout == ""
    with open_database(db_url) as db:
        assert list_lessons(db) == []


def test_bad_database_url_is_a_user_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELDEPLOY_DATABASE_URL", "not a url")
    result = cli("list")
    assert isinstance(result.exception, UserInputError)
    assert "not a database URL" in str(result.exception)

"""`modeldeploy logs digest`: the JSON contract, the text digest, deployment names, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modeldeploy.cli.logs import app
from modeldeploy.errors import UserInputError

LOGS = Path(__file__).resolve().parents[1] / "fixtures" / "logs"
runner = CliRunner()


def test_json_is_one_object_with_the_contract_fields():
    result = runner.invoke(app, ["digest", str(LOGS / "vllm_oom.log"), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)          # exactly one JSON document
    assert isinstance(doc, dict)
    assert {"fatal", "signatures", "groups", "tokens"} <= set(doc)
    assert "torch.OutOfMemoryError: CUDA out of memory" in doc["fatal"] and doc["fatal_line"] == 93
    assert isinstance(doc["signatures"], list) and doc["tokens"] <= 1500
    for g in doc["groups"]:
        assert {"template", "count", "first_line", "last_line", "example", "level"} <= set(g)
        assert 1 <= g["first_line"] <= g["last_line"] <= doc["total_lines"]


def test_text_output_is_the_render_and_the_options_apply():
    result = runner.invoke(app, ["digest", str(LOGS / "vllm_noisy_long.log"), "--budget", "400", "--tail", "3"])
    assert result.exit_code == 0, result.output
    text = result.stdout.rstrip("\n")
    assert "fatal (line 3108, verbatim):" in text and "torch.OutOfMemoryError" in text
    assert (len(text) + 3) // 4 <= 400
    doc = json.loads(runner.invoke(app, ["digest", str(LOGS / "vllm_noisy_long.log"), "--tail", "3", "--json"]).stdout)
    assert len(doc["tail"]) == 3


def test_a_deployment_name_reads_its_server_log(isolated_home):
    log = isolated_home / "deployments" / "qwen-small" / "server.log"
    log.parent.mkdir(parents=True)
    log.write_bytes((LOGS / "vllm_tp_heads.log").read_bytes())
    doc = json.loads(runner.invoke(app, ["digest", "qwen-small", "--json"]).stdout)
    assert "must be divisible by tensor parallel size (3)" in doc["fatal"]
    assert doc["source"].startswith("deployment qwen-small")


@pytest.mark.parametrize("make,message", [
    (lambda tmp: str(tmp / "missing.log"), "no such log file"),
    (lambda tmp: str(tmp), "is a directory"),
    (lambda tmp: (tmp / "blob.bin").write_bytes(bytes(range(256)) * 8) and str(tmp / "blob.bin"), "binary file"),
    (lambda tmp: "no-such-deployment-zz9", "no deployment named no-such-deployment-zz9"),
    (lambda tmp: "bad name!", "neither a log file nor a deployment name"),
], ids=["missing-file", "directory", "binary-file", "unknown-deployment", "bad-name"])
def test_bad_input_is_a_one_line_user_error(tmp_path, make, message):
    result = runner.invoke(app, ["digest", make(tmp_path)])
    assert result.exit_code != 0
    assert isinstance(result.exception, UserInputError), result.exception
    assert message in str(result.exception) and "\n" not in str(result.exception)


def test_budget_below_the_minimum_is_a_usage_error():
    result = runner.invoke(app, ["digest", str(LOGS / "vllm_oom.log"), "--budget", "10"])
    assert result.exit_code == 2

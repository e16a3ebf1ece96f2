"""`modeldeploy diagnose FILE [--json]`: the JSON contract, the human output, bad input as one-line errors.

The command is tested mounted both ways the main CLI may use (`add_typer` of the module's app, or
`command()` of the function), and through `modeldeploy.cli.main.run` once the main CLI registers it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from modeldeploy.cli.diagnose import app as diagnose_app
from modeldeploy.cli.diagnose import diagnose_command, run_diagnosis
from modeldeploy.errors import UserInputError

API = "(APIServer pid=26499) "
CORE = "(EngineCore_DP0 pid=26546) ERROR 11-25 12:40:50 [core.py:708] "
KV_LOG = (f"{API}INFO 11-25 12:40:50 [__init__.py:216] Automatically detected platform cuda.\n"
          f"{API}INFO 11-25 12:40:50 [api_server.py:1839] vLLM API server version 0.11.0\n"
          f"{CORE}EngineCore failed to start.\n"
          f"{CORE}ValueError: The model's max seq len (131072) is larger than the maximum number of tokens that can be "
          "stored in KV cache (43680). Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when "
          "initializing the engine.\n"
          f"{API}RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {{}}\n")
GATED_LOG = (f"{API}huggingface_hub.errors.GatedRepoError: 401 Client Error. (Request ID: Root=1-6743a1b2)\n"
             f"{API}Cannot access gated repo for url https://huggingface.co/meta-llama/Llama-3.1-8B/resolve/main/"
             "config.json.\n")


def _apps() -> dict[str, typer.Typer]:
    by_group = typer.Typer()

    @by_group.command()
    def probe() -> None:  # another command, so that `diagnose` is a real subcommand
        pass

    by_group.add_typer(diagnose_app, name="diagnose")
    by_command = typer.Typer()

    @by_command.command()
    def plan() -> None:
        pass

    by_command.command("diagnose")(diagnose_command)
    return {"add_typer": by_group, "command": by_command}


@pytest.fixture(params=["add_typer", "command"])
def cli(request):
    return _apps()[request.param]


@pytest.fixture
def kv_log(tmp_path: Path) -> Path:
    path = tmp_path / "server.log"
    path.write_text(KV_LOG, encoding="utf-8")
    return path


@pytest.mark.parametrize("order", ["file-first", "option-first"])
def test_json_contract(cli, kv_log, order):
    args = ["diagnose", str(kv_log), "--json"] if order == "file-first" else ["diagnose", "--json", str(kv_log)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {"category", "fatal", "fix", "action_for_human", "decided_by", "signature"} <= set(doc)
    assert doc["category"] == "oom_or_kv_cache" and doc["signature"] == "kv_cache_too_small"
    assert doc["fix"] == {"max_model_len": 43520} and doc["action_for_human"] is None
    assert doc["decided_by"] == "rules"
    assert "KV cache (43680)" in doc["fatal"] and doc["fatal_line"] == 4


def test_json_for_a_cause_no_flag_fixes(cli, tmp_path):
    path = tmp_path / "gated.log"
    path.write_text(GATED_LOG, encoding="utf-8")
    doc = json.loads(CliRunner().invoke(cli, ["diagnose", str(path), "--json"]).stdout)
    assert doc["category"] == "gated_model" and doc["fix"] is None and "HF_TOKEN" in doc["action_for_human"]


def test_json_for_an_unknown_failure(cli, tmp_path):
    path = tmp_path / "odd.log"
    path.write_text(f"{API}INFO starting\n{API}ZeroDivisionError: float division by zero\n", encoding="utf-8")
    doc = json.loads(CliRunner().invoke(cli, ["diagnose", str(path), "--json"]).stdout)
    assert doc["category"] == "other" and doc["fix"] is None and doc["signature"] is None
    assert "ZeroDivisionError" in doc["fatal"] and doc["action_for_human"]


def test_human_output(cli, kv_log):
    result = CliRunner().invoke(cli, ["diagnose", str(kv_log)])
    assert result.exit_code == 0
    out = result.stdout
    assert "category: oom_or_kv_cache (kv_cache_too_small)" in out
    assert "fatal (line 4):" in out and "fix: max_model_len=43520" in out and "why:" in out


@pytest.mark.parametrize("make,message", [
    (lambda d: d / "missing.log", "no such file"),
    (lambda d: d, "is a directory"),
    (lambda d: (d / "weights.bin").write_bytes(b"\x00\x01\x02GGUF\x00" * 100) and d / "weights.bin", "binary"),
    (lambda d: (d / "img.png").write_bytes(bytes(range(128, 256)) * 40) and d / "img.png", "binary"),
])
def test_bad_input_is_a_one_line_user_error(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(UserInputError, match=message) as info:
        run_diagnosis(path)
    assert "\n" not in str(info.value) and info.value.exit_code == 2
    result = CliRunner().invoke(_apps()["command"], ["diagnose", str(path)])
    assert isinstance(result.exception, UserInputError)


def test_an_empty_file_is_diagnosed_not_refused(tmp_path):
    path = tmp_path / "empty.log"
    path.write_text("")
    doc = run_diagnosis(path)
    assert doc["category"] == "other" and doc["fatal"] is None


def test_through_the_main_cli_when_registered(kv_log, tmp_path):
    from modeldeploy.cli import main

    names = {c.name for c in main.app.registered_commands} | {g.name for g in main.app.registered_groups}
    if "diagnose" not in names:
        pytest.skip("the main CLI does not mount `diagnose` yet")
    ok = subprocess.run([sys.executable, "-m", "modeldeploy.cli.main", "diagnose", str(kv_log), "--json"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["fix"] == {"max_model_len": 43520}
    bad = subprocess.run([sys.executable, "-m", "modeldeploy.cli.main", "diagnose", str(tmp_path / "nope.log")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "no such file" in bad.stderr

"""`modeldeploy deploy --runtime process`: the same contract as Docker, for servers run as local processes.

The server here is the simulator run from this environment (a stand-in for vLLM: no GPU here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("modeldeploy"))
TINY = str(ROOT / "models" / "tiny-llama")
SIMULATOR = f"{sys.executable} -m modeldeploy.simulator"


def run(*args: str, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "MODELDEPLOY_HOME": str(home)})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_process_deploy_rerun_reuses_and_down_stops(tmp_path):
    home = tmp_path / "home"
    proc = run("deploy", TINY, "--runtime", "process", "--command", SIMULATOR, "--yes", "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["status"] == "ready" and doc["container_id"] is None and doc["runtime"] == "process"
    state = json.loads((home / "deployments" / doc["name"] / "process.json").read_text())
    pid = state["pid"]
    try:
        assert _alive(pid)
        again = json.loads(run("deploy", TINY, "--runtime", "process", "--command", SIMULATOR, "--yes", "--json",
                               home=home).stdout)
        assert again["status"] == "ready" and again["endpoint"] == doc["endpoint"]
        assert json.loads((home / "deployments" / doc["name"] / "process.json").read_text())["pid"] == pid
    finally:
        down = run("down", doc["name"], "--json", home=home)
    assert json.loads(down.stdout)["servers_removed"] == 1
    assert not _alive(pid)


def test_a_server_missing_from_the_named_environment_fails_with_its_log(tmp_path):
    home = tmp_path / "home"
    # this environment has no vLLM: the framework's own command starts, then dies with ModuleNotFoundError
    proc = run("deploy", TINY, "--runtime", "process", "--python-env", str(Path(sys.executable).parents[1]), "--yes",
               "--json", home=home)
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    (attempt,) = doc["attempts"]
    assert attempt["outcome"] == "crashed" and attempt["exit_code"] == 1
    assert "No module named vllm" in attempt["log_tail"] or "No module named 'vllm'" in attempt["log_tail"]
    assert not any(_alive(int(p.read_text().split('"pid": ')[1].split(",")[0]))
                   for p in (home / "deployments").glob("*/process.json"))


def test_a_python_env_without_the_server_is_a_clear_error(tmp_path):
    proc = run("deploy", TINY, "--runtime", "process", "--python-env", str(tmp_path / "no-env"), "--yes", "--json",
               home=tmp_path / "home")
    assert proc.returncode == 1
    assert "does not exist" in json.loads(proc.stdout)["reasons"][0] if proc.stdout else "does not exist" in proc.stderr


def test_custom_code_waits_for_a_person_and_yes_alone_does_not_approve_it(tmp_path):
    home = tmp_path / "home"
    model = ROOT / "tests" / "fixtures" / "models" / "internlm2_5-7b-chat"  # auto_map, not a native model type
    hw = ROOT / "tests" / "fixtures" / "machines" / "a100-80gb-x1.json"
    args = ["deploy", str(model), "--runtime", "process", "--command", SIMULATOR, "--hardware", str(hw), "--yes", "--json"]
    waiting = run(*args, home=home)
    assert waiting.returncode == 4, waiting.stderr
    doc = json.loads(waiting.stdout)
    assert doc["status"] == "awaiting_approval" and doc["approval"]["kind"] == "trust_remote_code"
    assert not (home / "deployments").exists() or not list((home / "deployments").glob("*/process.json"))
    refused = run("approve", doc["thread_id"], "--reject", "--json", home=home)
    assert refused.returncode == 1 and json.loads(refused.stdout)["status"] == "rejected"
    approved = run(*args, "--trust-remote-code", home=home)
    try:
        assert approved.returncode == 0, approved.stderr
        assert "--trust-remote-code" in json.loads((home / "deployments" / json.loads(approved.stdout)["name"]
                                                    / "process.json").read_text())["argv"]
    finally:
        run("down", json.loads(approved.stdout)["name"], home=home)

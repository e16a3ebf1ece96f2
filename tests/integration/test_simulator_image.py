"""The simulator as it runs in its image, without Docker: the build context's `simulator/` package, started
as a top-level package (`python3 -m simulator`) by an interpreter that sees only the standard library; and
`modeldeploy sim` (serve in-process, image errors)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
from typer.testing import CliRunner

from modeldeploy.cli.sim import _split_tag, app
from modeldeploy.errors import ModelDeployError
from modeldeploy.simulator.image import build_context

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "models" / "tiny-llama")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELDEPLOY_SIM_", "PYTHON"))}
    env.update(extra)
    return env


def _serve_until_ready(cmd: list[str], env: dict, cwd: str | None, ready: str) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if ready in line:
            return proc, seen
    raise AssertionError(f"exited {proc.wait()} before {ready!r}:\n{''.join(seen)}")


def test_the_image_package_runs_on_a_bare_interpreter(tmp_path):
    """-S: no site-packages, -E -s: no PYTHON* variables or user site: only the standard library is importable."""
    with tarfile.open(fileobj=io.BytesIO(build_context("python:3.11-slim"))) as tar:
        tar.extractall(tmp_path, filter="data")
    assert (tmp_path / "Dockerfile").read_text().startswith("FROM python:3.11-slim")
    port = str(_free_port())
    cmd = [sys.executable, "-S", "-E", "-s", "-m", "simulator", "vllm", "serve", TINY, "--served-model-name", "tiny",
           "--host", "127.0.0.1", "--port", port]
    proc, _ = _serve_until_ready(cmd, _clean_env(MODELDEPLOY_SIM_STARTUP_S="0"), str(tmp_path),
                                 "Application startup complete.")
    try:
        reply = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=10, json={
            "model": "tiny", "messages": [{"role": "user", "content": "What is 8 plus 9?"}]}).json()
        assert reply["choices"][0]["message"]["content"] == "17"
        probe = subprocess.run([sys.executable, "-S", "-E", "-s", "-c",
                                "import simulator.server, sys; print('modeldeploy' in sys.modules)"],
                               cwd=tmp_path, capture_output=True, text=True, env=_clean_env())
        assert probe.stdout.strip() == "False", probe.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_sim_serve_runs_in_process_with_the_framework_flags_after_dashes():
    port = str(_free_port())
    code = ("import sys; from modeldeploy.cli.sim import app; sys.argv[0] = 'modeldeploy sim'; app()")
    cmd = [sys.executable, "-c", code, "serve", "--startup-s", "0", "--slots", "2",
           "--gpu", str(ROOT / "tests" / "fixtures" / "machines" / "l4-x1.json"),
           "--", "--model", TINY, "--served-model-name", "tiny", "--host", "127.0.0.1", "--port", port]
    proc, seen = _serve_until_ready(cmd, _clean_env(), None, "Application startup complete.")
    try:
        assert any("Automatically detected platform cuda." in line for line in seen)  # the --gpu file was read
        doc = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).json()
        assert doc["data"][0]["id"] == "tiny"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_sim_serve_passes_the_failure_exit_code_on():
    result = CliRunner().invoke(app, ["serve", "--startup-s", "0", "--fail", "4", "--", "--model", TINY, "--port", "0"],
                                env={"MODELDEPLOY_SIM_GPU": json.dumps({"memory_total_mib": 15360})})
    assert result.exit_code == 1


def test_sim_image_names_the_base_image_when_the_engine_is_unreachable(tmp_path):
    result = CliRunner().invoke(app, ["image", "--base", "python:3.11-slim"],
                                env={"DOCKER_HOST": f"unix://{tmp_path}/nothing.sock"})
    assert isinstance(result.exception, ModelDeployError)
    message = str(result.exception)
    assert "python:3.11-slim" in message and "\n" not in message


def test_split_tag():
    assert _split_tag("127.0.0.1:5000/modeldeploy/simulator:e2e") == ("127.0.0.1:5000/modeldeploy/simulator", "e2e")
    assert _split_tag("registry:5000/sim") == ("registry:5000/sim", "latest")
    assert _split_tag("modeldeploy/simulator") == ("modeldeploy/simulator", "latest")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

"""Crash and resume: SIGKILL the CLI during the download and after the server started; the same command resumes.

The hub is the stand-in server (huggingface.co is unreachable here) with throttled bodies so that the
download can be interrupted; the server is the simulator run as a local process (no GPU here).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hub_server import HubServer, write_repo

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("modeldeploy"))
TINY = ROOT / "models" / "tiny-llama"
REPO = "acme/tiny-llama"
SIMULATOR = f"{sys.executable} -m modeldeploy.simulator"


def _wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def hub(tmp_path):
    files = {p.name: p.read_bytes() for p in TINY.iterdir() if p.is_file()}
    write_repo(tmp_path / "hub", REPO, files)
    with HubServer(tmp_path / "hub", lfs_min_size=1) as server:
        yield server


def _env(home: Path, hub: HubServer, **extra: str) -> dict[str, str]:
    env = {**os.environ, "MODELDEPLOY_HOME": str(home), "HF_ENDPOINT": hub.url, "HF_HOME": str(home / "hf"),
           "HF_HUB_OFFLINE": "0", **extra}
    env.pop("HF_TOKEN", None)
    return env


def _deploy(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([CLI, "deploy", REPO, "--runtime", "process", "--command", SIMULATOR, "--yes", "--json"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_after_the_container_started_resumes_with_the_same_container(sim_image, tmp_path):
    """The docker runtime: a re-run of the killed command finds its container by name and label."""
    import docker

    home = tmp_path / "home"
    # a 20 s load gives room to notice the container and kill the CLI while it is still waiting for readiness
    args = [CLI, "deploy", str(TINY), "--image", sim_image, "--yes", "--json", "--env", "MODELDEPLOY_SIM_STARTUP_S=20"]
    env = {**os.environ, "MODELDEPLOY_HOME": str(home)}
    client = docker.from_env()
    labelled = lambda: client.containers.list(all=True, filters={"label": "modeldeploy.managed=true",
                                                                 "name": "md-tiny-llama"})
    before = {c.id for c in labelled()}
    first = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        container = _wait_for(lambda: next((c for c in labelled() if c.id not in before), None), what="the container")
        finished_early = first.poll() is not None
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    try:  # from here a container exists: whatever fails, it is taken down
        assert not finished_early, "the first run finished before it could be killed"
        second = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stderr
        doc = json.loads(second.stdout)
        assert doc["status"] == "ready" and doc["container_id"] == container.id, doc
        assert doc["resumed"] is True, (doc["thread_id"], first.stderr.read()[-2000:] if first.stderr else "")
        assert [c.id for c in labelled() if c.id not in before] == [container.id]
    finally:
        subprocess.run([CLI, "down", container.labels["modeldeploy.deployment"]], cwd=ROOT, env=env,
                       capture_output=True, timeout=120)
    assert [c for c in labelled() if c.id not in before] == []


def _weights_partial(home: Path) -> Path | None:
    """The partial file of model.safetensors, once it holds some bytes."""
    if not (home / "models").exists():
        return None
    return next((p for p in (home / "models").rglob("model.safetensors.*.incomplete") if p.stat().st_size > 0), None)


def test_sigkill_during_download_then_after_start_resumes_without_a_second_server(hub, tmp_path):
    home = tmp_path / "home"
    hub.throttle_bytes_per_s = 100_000  # the 430 kB weights take ~4 s
    first = _deploy(_env(home, hub))
    try:
        partial = _wait_for(lambda: _weights_partial(home), what="a partial download of model.safetensors")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    kept = partial.stat().st_size
    assert kept > 0

    # Second run: resume the download from the partial file, then kill it while the server is loading.
    hub.throttle_bytes_per_s = None
    env = _env(home, hub, MODELDEPLOY_SIM_STARTUP_S="8")
    second = subprocess.Popen([CLI, "deploy", REPO, "--runtime", "process", "--command", SIMULATOR, "--yes", "--json",
                               "--env", "MODELDEPLOY_SIM_STARTUP_S=8"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process_files = lambda: list((home / "deployments").glob("*/process.json")) if (home / "deployments").exists() else []
    try:
        state_file = _wait_for(process_files, what="the server to start")[0]
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait(timeout=30)
    pid = json.loads(state_file.read_text())["pid"]
    try:  # from here a server runs: whatever fails, it is taken down
        second_err = second.stderr.read()  # no "Exception in callback" from progress events of the download's threads
        assert "Traceback" not in second_err, second_err[-3000:]
        ranges = [r.range for r in hub.requests if r.range and r.file == "model.safetensors"]
        assert f"bytes={kept}-" in ranges, ranges

        # Third run of the same command: the thread resumes at wait_ready and reuses the running server.
        third = subprocess.run([CLI, "deploy", REPO, "--runtime", "process", "--command", SIMULATOR, "--yes", "--json",
                                "--env", "MODELDEPLOY_SIM_STARTUP_S=8"], cwd=ROOT, env=env, capture_output=True,
                               text=True, timeout=300)
        assert third.returncode == 0, third.stderr
        assert "Traceback" not in third.stderr, third.stderr[-3000:]
        doc = json.loads(third.stdout)
        assert doc["status"] == "ready" and doc["resumed"] is True, doc
        assert doc["name"] == state_file.parent.name
        assert json.loads(state_file.read_text())["pid"] == pid  # no second server
        assert len(process_files()) == 1
    finally:
        subprocess.run([CLI, "down", state_file.parent.name], cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert _wait_for(lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2],
                     what="the server to stop")

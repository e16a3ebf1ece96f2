"""Start `python server.py` as a real process on a free loopback port, wait until `/ok` answers, stop it after.

Readiness is polled (`/ok`), never slept for. The server's output goes to a log file that a failing
test can show.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    if port == 2024:  # taken on the CI machine by something else; never use it
        return free_port()
    return port


@dataclass
class ApiServer:
    url: str
    token: str | None
    process: subprocess.Popen
    log: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def wait_until_ready(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        process_wait = 0.1  # a poll interval, not synchronisation: the loop ends on the answer
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(process_wait)
    raise RuntimeError(f"server not ready after {timeout}s:\n{log.read_text(errors='replace')[-3000:]}")


def stop_group(process: subprocess.Popen) -> None:
    """TERM the process group a server was started in (start_new_session=True), KILL it after 30 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@contextlib.contextmanager
def running_server(home: Path, *, token: str | None = "test-token", extra_env: dict[str, str] | None = None,
                   host: str = "127.0.0.1") -> Iterator[ApiServer]:
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    log = home / f"server-{port}.log"
    env = {**os.environ, "MODELDEPLOY_HOME": str(home), "HF_HUB_OFFLINE": "1", "MODELDEPLOY_API_HEARTBEAT_S": "1",
           **(extra_env or {})}
    if "MODELDEPLOY_API_TOKENS_FILE" not in (extra_env or {}):
        env.pop("MODELDEPLOY_API_TOKENS_FILE", None)
    if token:
        env["MODELDEPLOY_API_TOKENS"] = token
    else:
        env.pop("MODELDEPLOY_API_TOKENS", None)
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, str(ROOT / "server.py"), "--host", host, "--port", str(port),
                                    "--log-level", "warning"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://{host}:{port}"
    try:
        wait_until_ready(url, process, log)
        yield ApiServer(url, token, process, log)
    finally:
        stop_group(process)

"""Servers for the bench tests: the simulator as a subprocess with controlled timing (readiness awaited on
its own log line, never a fixed sleep), and the path of the real vLLM CPU environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "models" / "tiny-llama"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SimServer:
    """`with SimServer(ttft_ms=200, tpot_ms=10) as sim: sim.url` — the simulator (vLLM flavour) on loopback."""

    def __init__(self, ttft_ms: float = 50, tpot_ms: float = 10, slots: int | None = None, chunk_tokens: int = 1,
                 extra_args: list[str] | None = None):
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELDEPLOY_SIM_")}
        env.update(MODELDEPLOY_SIM_STARTUP_S="0.1", MODELDEPLOY_SIM_TTFT_MS=str(ttft_ms),
                   MODELDEPLOY_SIM_TPOT_MS=str(tpot_ms), MODELDEPLOY_SIM_CHUNK_TOKENS=str(chunk_tokens))
        if slots:
            env["MODELDEPLOY_SIM_SLOTS"] = str(slots)
        self.cmd = [sys.executable, "-m", "modeldeploy.simulator", "--model", str(TINY), "--port", str(self.port),
                    "--host", "127.0.0.1", *(extra_args or [])]
        self.env = env
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    model = str(TINY)

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def __enter__(self) -> "SimServer":
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env,
                                     text=True, bufsize=1)
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 30
        with self._cond:
            while not any("Application startup complete." in line for line in self.lines):
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.__exit__()
                    raise AssertionError("simulator did not start:\n" + "\n".join(self.lines[-20:]))
                self._cond.wait(0.2)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)



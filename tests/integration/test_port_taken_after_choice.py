"""A port modeldeploy chose itself and that something took before the server started: it chooses again.

(A port the user asked for with --port is theirs: taken, the run stops and says so.)
"""

from __future__ import annotations

import socket
import sys

import pytest

from modeldeploy.graph import Context, graph
from modeldeploy.tools.runtimes import ports
from modeldeploy.tools.runtimes.process_runtime import ProcessRuntime

SIMULATOR = [sys.executable, "-m", "modeldeploy.simulator"]


def _request(**extra) -> dict:
    return {"request": {"model": "models/tiny-llama", "runtime": "process", "action": "deploy", "approve": True,
                        "command": SIMULATOR, **extra}}


@pytest.fixture
def held_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield s.getsockname()[1]


async def _deploy(inputs: dict) -> dict:
    state: dict = {}
    try:
        state = await graph.ainvoke(inputs, context=Context(poll_interval_s=0.1))
    finally:
        name = (state.get("artifacts") or {}).get("deployment_name")
        if name:
            ProcessRuntime().remove(name)
    return state


async def test_a_chosen_port_taken_before_the_start_is_chosen_again(held_port, monkeypatch):
    real = ports.free_port
    handed = iter([held_port])
    monkeypatch.setattr("modeldeploy.nodes.render_manifest.free_port", lambda: next(handed, None) or real())
    state = await _deploy(_request())
    assert state["status"] == "ready", state.get("error")
    assert state["artifacts"]["host_port"] != held_port
    assert any(a["action"].startswith("chosen port taken") for a in state["audit"])
    assert len(state["attempts"]) == 1


async def test_a_port_the_user_asked_for_is_not_changed_behind_their_back(held_port):
    state = await _deploy(_request(port=held_port))
    assert state["status"] == "failed"
    assert f"port {held_port} is taken" in state["error"] and "--port" in state["error"]


def test_free_ports_come_from_below_the_ephemeral_range():
    low, _ = ports._ephemeral_range()
    picked = {ports.free_port() for _ in range(20)}
    assert all(p < low for p in picked) and len(picked) > 1

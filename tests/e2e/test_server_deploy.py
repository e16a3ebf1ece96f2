"""Deployments through the HTTP API, as a remote user runs them: stream, approve over the wire, clean up.

1. The process runtime with the simulator: the approval interrupt arrives in the stream, the resume is
   a `Command(resume=...)` sent through RemoteGraph, the deployment becomes ready, the history shows the
   path, and `modeldeploy down` removes it.
2. Twenty concurrent deploy runs (Docker runtime, the simulator image from the local registry), each with
   its own container and labels; all removed afterwards, nothing labelled modeldeploy.* left.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from api_server import running_server

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("modeldeploy"))
TINY = str(ROOT / "models" / "tiny-llama")
SIMULATOR = [sys.executable, "-m", "modeldeploy.simulator"]


def _down(name: str, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "down", name, "--json"], capture_output=True, text=True, cwd=ROOT, timeout=180,
                          env={**os.environ, "MODELDEPLOY_HOME": str(home)})


async def test_deploy_waits_for_approval_in_the_stream_and_resumes_to_ready(isolated_home):
    from langgraph.pregel.remote import RemoteGraph
    from langgraph.types import Command
    from langgraph_sdk import get_client

    from modeldeploy.tools.runtimes.process_runtime import ProcessRuntime

    name = "md-api-e2e-process"
    request = {"model": TINY, "action": "deploy", "runtime": "process", "command": SIMULATOR, "deployment_name": name}
    with running_server(isolated_home) as server:
        client = get_client(url=server.url, headers=server.headers)
        thread = await client.threads.create()
        config = {"configurable": {"thread_id": thread["thread_id"]}}
        try:
            parts = [p async for p in client.runs.stream(thread["thread_id"], "deploy", input={"request": request},
                                                          stream_mode=["updates", "custom"])]
            assert parts[0].event == "metadata" and parts[-1].event == "end", [p.event for p in parts][-3:]
            asked = [p.data["__interrupt__"] for p in parts if p.event == "updates" and "__interrupt__" in p.data]
            assert len(asked) == 1 and len(asked[0]) == 1
            question = asked[0][0]["value"]
            assert question["kind"] == "register" and question["deployment"] == name
            assert question["resume_with"] == {"approved": True, "by": "name"} and question["smoke"]["chat"]["ok"]
            run = await client.runs.get(thread["thread_id"], parts[0].data["run_id"])
            assert run["status"] == "interrupted"
            waiting = await client.threads.get(thread["thread_id"])
            assert waiting["status"] == "interrupted" and list(waiting["interrupts"].values())[0][0]["value"] == question

            remote = RemoteGraph("deploy", url=server.url, headers=server.headers)
            chunks = [c async for c in remote.astream(Command(resume={"approved": True, "by": "e2e-test"}), config,
                                                      stream_mode="values")]
            final = chunks[-1]
            assert final["status"] == "ready" and final["approval"] == {"approved": True, "by": "e2e-test"}
            endpoint = final["artifacts"]["endpoint"]
            models = (await asyncio.to_thread(httpx.get, f"{endpoint}/models", timeout=10)).json()
            assert [m["id"] for m in models["data"]] == [final["artifacts"]["served_model_name"]]

            history = await client.threads.get_history(thread["thread_id"], limit=100)
            assert history[0]["values"]["status"] == "ready" and history[0]["next"] == []
            assert any(h["next"] == ["approve"] and h["interrupts"] for h in history), "the approval pause is in the history"
            nodes = [a["node"] for a in history[0]["values"]["audit"]]
            assert nodes[-3:] == ["approve", "register", "record_experience"]
        finally:
            down = await asyncio.to_thread(_down, name, isolated_home)
    assert down.returncode == 0, down.stderr
    assert json.loads(down.stdout)["servers_removed"] == 1
    assert await asyncio.to_thread(ProcessRuntime().list) == []


def _ours(docker_client, names: set[str]) -> list:
    return [c for c in docker_client.containers.list(all=True, filters={"label": "modeldeploy.managed=true"})
            if c.labels.get("modeldeploy.deployment") in names]


def _remove_all(names: list[str]) -> list[dict]:
    """remove_deployment for each name; an error is recorded, not raised (it must not hide the test's own)."""
    from modeldeploy.tools.deployments import remove_deployment

    removed = []
    for name in names:
        try:
            removed.append(remove_deployment(name))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion after the loop
            removed.append({"name": name, "error": f"{type(exc).__name__}: {exc}"})
    return removed


@pytest.mark.slow
async def test_twenty_concurrent_deploys_each_get_their_own_container(sim_image, isolated_home):
    import docker
    from langgraph_sdk import get_client

    names = [f"md-api-many-{i:02d}" for i in range(20)]
    docker_client = docker.from_env(timeout=120)
    before = {c.id for c in docker_client.containers.list(all=True, filters={"label": "modeldeploy.managed=true"})}
    with running_server(isolated_home) as server:
        client = get_client(url=server.url, headers=server.headers, timeout=httpx.Timeout(900, connect=10))
        runs = []
        try:
            threads = await asyncio.gather(*(client.threads.create() for _ in names))
            runs = await asyncio.gather(*(
                client.runs.create(t["thread_id"], "deploy", input={"request": {
                    "model": TINY, "action": "deploy", "runtime": "docker", "image": sim_image, "approve": True,
                    "deployment_name": name}}, context={"startup_timeout_s": 600})
                for t, name in zip(threads, names)))  # ports: the graph's own choice, 20 at once
            results = await asyncio.gather(*(client.runs.join(r["thread_id"], r["run_id"]) for r in runs))
            statuses = {r["artifacts"]["deployment_name"]: (r.get("status"), r.get("error")) for r in results}
            assert statuses == {name: ("ready", None) for name in names}
            containers = await asyncio.to_thread(_ours, docker_client, set(names))
            assert len({c.id for c in containers}) == 20
            by_name = {c.labels["modeldeploy.deployment"]: c for c in containers}
            assert set(by_name) == set(names)
            for result in results:
                container = by_name[result["artifacts"]["deployment_name"]]
                assert container.status == "running" and container.id == result["artifacts"]["container_id"]
                assert container.labels["modeldeploy.managed"] == "true" and container.labels["modeldeploy.framework"]
            assert len({r["artifacts"]["endpoint"] for r in results}) == 20
        finally:
            removed = await asyncio.to_thread(_remove_all, names)
    assert [r.get("servers_removed") for r in removed] == [1] * 20, removed
    assert await asyncio.to_thread(_ours, docker_client, set(names)) == []
    after = {c.id for c in docker_client.containers.list(all=True, filters={"label": "modeldeploy.managed=true"})}
    assert after - before == set()

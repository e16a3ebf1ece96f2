"""`langgraph dev` serves `langgraph.json`'s five graphs; the official SDK plans, and deploys through the
approval interrupt, with the deploy graph.

`langgraph dev` (langgraph-cli[inmem]) rejects blocking calls on the event loop, so a plan that
completes here also shows that the plan path does not block. Skipped when langgraph-cli is not installed.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from api_server import free_port, stop_group, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
LANGGRAPH = Path(sys.executable).with_name("langgraph")
TINY = str(ROOT / "models" / "tiny-llama")


@contextlib.contextmanager
def langgraph_dev(workdir: Path, home: Path):
    port = free_port()
    log = workdir / "langgraph-dev.log"
    env = {**os.environ, "MODELDEPLOY_HOME": str(home), "HF_HUB_OFFLINE": "1", "LANGGRAPH_CLI_NO_ANALYTICS": "1",
           "LANGSMITH_TRACING": "false"}
    with log.open("wb") as out:
        # cwd is a temporary directory: langgraph dev keeps its in-memory state in ./.langgraph_api
        process = subprocess.Popen([str(LANGGRAPH), "dev", "--no-browser", "--no-reload", "--port", str(port),
                                    "--host", "127.0.0.1", "--config", str(ROOT / "langgraph.json")],
                                   cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process, log, timeout=120)
        yield f"http://127.0.0.1:{port}", log
    finally:
        stop_group(process)


@pytest.mark.skipif(not LANGGRAPH.exists(), reason="langgraph-cli[inmem] is not installed in this environment")
async def test_langgraph_dev_serves_the_deploy_graph_and_streams_a_plan(tmp_path, isolated_home):
    from langgraph_sdk import get_client

    with langgraph_dev(tmp_path, isolated_home) as (url, log):
        client = get_client(url=url, api_key=None)
        every = await client.assistants.search(limit=20)
        assert sorted(a["graph_id"] for a in every) == ["benchmark", "deploy", "evaluate", "logs", "test"]
        assistants = await client.assistants.search(graph_id="deploy")
        assert [a["graph_id"] for a in assistants] == ["deploy"]
        thread = await client.threads.create()
        parts = [p async for p in client.runs.stream(thread["thread_id"], assistants[0]["assistant_id"],
                                                      input={"request": {"model": TINY, "action": "plan"}},
                                                      stream_mode=["updates", "custom"])]
        events = [p.event for p in parts]
        assert events[0] == "metadata" and "error" not in events, (events, log.read_text()[-3000:])
        updates = [next(iter(p.data)) for p in parts if p.event == "updates"]
        assert updates[-1] == "render_manifest"
        assert any(p.event == "custom" and p.data["node"] == "plan_resources" for p in parts)
        state = await client.threads.get_state(thread["thread_id"])
        assert state["values"]["plan"]["feasible"] is True and state["values"]["decision"]["framework"]
        # a standalone graph through langgraph dev: its typed input form, and a run that reads a file off the loop
        assert "profile" in (await client.assistants.get_schemas(
            next(a for a in every if a["graph_id"] == "benchmark")["assistant_id"]))["input_schema"]["properties"]
        logs_id = next(a for a in every if a["graph_id"] == "logs")["assistant_id"]
        saved = ROOT / "tests" / "fixtures" / "logs" / "vllm_bf16_cc75.log"
        values = await client.runs.wait(None, logs_id, input={"source": str(saved)})
        assert values["diagnosis"]["category"] == "dtype_unsupported", (values, log.read_text()[-3000:])
        assert "BlockingError" not in log.read_text()


@pytest.mark.skipif(not LANGGRAPH.exists(), reason="langgraph-cli[inmem] is not installed in this environment")
async def test_langgraph_dev_streams_a_deploy_to_its_approval_interrupt_and_resumes_it(tmp_path, isolated_home):
    """The Studio path end to end: a deploy (simulator, process runtime) stops at the approval interrupt,
    is resumed with a Command, reaches ready; its history is there; nothing blocking ran on the loop."""
    from langgraph.pregel.remote import RemoteGraph
    from langgraph.types import Command
    from langgraph_sdk import get_client
    from proc_tree import carrying

    from modeldeploy.tools.deployments import remove_deployment

    name = "md-dev-deploy"
    request = {"model": TINY, "action": "deploy", "runtime": "process", "deployment_name": name,
               "command": [sys.executable, "-m", "modeldeploy.simulator"]}
    with langgraph_dev(tmp_path, isolated_home) as (url, log):
        client = get_client(url=url, api_key=None)
        thread = await client.threads.create()
        try:
            parts = [p async for p in client.runs.stream(thread["thread_id"], "deploy", input={"request": request},
                                                          stream_mode=["updates"])]
            interrupts = [p.data["__interrupt__"] for p in parts if p.event == "updates" and "__interrupt__" in p.data]
            assert interrupts and interrupts[0][0]["value"]["kind"] == "register", ([p.event for p in parts],
                                                                                   log.read_text()[-3000:])
            state = await client.threads.get_state(thread["thread_id"])
            assert state["next"] == ["approve"] and state["values"]["smoke"]["passed"]

            remote = RemoteGraph("deploy", url=url)
            config = {"configurable": {"thread_id": thread["thread_id"]}}
            final = await remote.ainvoke(Command(resume={"approved": True, "by": "langgraph-dev-test"}), config)
            assert final["status"] == "ready" and final["approval"]["by"] == "langgraph-dev-test", final.get("error")
            history = await client.threads.get_history(thread["thread_id"], limit=100)
            assert any(h["next"] == ["approve"] for h in history)
            assert "BlockingError" not in log.read_text()
        finally:
            try:
                remove_deployment(name)
            except Exception:  # noqa: BLE001 - nothing to remove when the deploy never started it
                pass
    assert not carrying(f"MODELDEPLOY_DEPLOYMENT={name}")

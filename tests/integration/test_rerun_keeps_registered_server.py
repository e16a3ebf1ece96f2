"""A second run of a deployment that is already serving reuses its server; declining that run keeps it.

cleanup removes what a run created. A server an earlier run deployed and registered is not this
run's: a rejected re-run must leave it serving, and the registry still says ready.
"""

from __future__ import annotations

import sys

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from modeldeploy.graph import Context, make_builder
from modeldeploy.tools.runtimes.process_runtime import ProcessRuntime

REQUEST = {"model": "models/tiny-llama", "runtime": "process", "action": "deploy",
           "command": [sys.executable, "-m", "modeldeploy.simulator"]}


async def test_declining_a_rerun_keeps_the_registered_server():
    from modeldeploy.experience_store import get_deployment, open_database

    graph = make_builder().compile(checkpointer=InMemorySaver())
    ctx = Context(poll_interval_s=0.1)
    first = await graph.ainvoke({"request": {**REQUEST, "approve": True}}, {"configurable": {"thread_id": "a"}},
                                context=ctx)
    name = first["artifacts"]["deployment_name"]
    try:
        assert first["status"] == "ready", first.get("error")
        pid_before = ProcessRuntime().find(name).id
        config = {"configurable": {"thread_id": "b"}}
        await graph.ainvoke({"request": REQUEST}, config, context=ctx)           # waits for approval
        second = await graph.ainvoke(Command(resume={"approved": False, "by": "test"}), config, context=ctx)
        assert second["status"] == "rejected"
        assert any(a["node"] == "start_container" and a["detail"].get("reused") for a in second["audit"])
        kept = [a for a in second["audit"] if a["node"] == "cleanup"]
        assert kept and kept[-1]["outcome"] == "skipped" and "kept" in kept[-1]["action"]
        server = ProcessRuntime().find(name)
        assert server.status == "running" and server.id == pid_before
        with open_database() as db:
            assert get_deployment(db, name)["status"] == "ready"
    finally:
        ProcessRuntime().remove(name)

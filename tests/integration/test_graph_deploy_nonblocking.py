"""The deploy path runs under blockbuster (what `langgraph dev` enforces): no blocking call on the event loop,
the load test and the evaluation included."""

from __future__ import annotations

from modeldeploy.graph import Context, graph


async def test_the_deploy_path_makes_no_blocking_calls_either(tmp_path):
    """Deploy the tiny model (process runtime, simulator server) under blockbuster, then remove it."""
    import sys

    from blockbuster import BlockBuster

    from modeldeploy.tools.runtimes.process_runtime import ProcessRuntime

    inputs = {"request": {"model": "models/tiny-llama", "runtime": "process", "action": "deploy", "approve": True,
                          "command": [sys.executable, "-m", "modeldeploy.simulator"],
                          "benchmark": {"concurrency": [1, 2], "num_requests": 6, "output_len": 8},
                          "evals": [{"suite": "addition", "limit": 5}]}}
    blocker = BlockBuster()
    blocker.activate()
    try:
        state = await graph.ainvoke(inputs, context=Context(poll_interval_s=0.1))
    finally:
        blocker.deactivate()
        for server in ProcessRuntime().list():  # this test's own home: whatever it started, even if the run raised
            ProcessRuntime().remove(server["name"])
    assert state["status"] == "ready", state.get("error")
    assert [a["node"] for a in state["audit"]][-5:] == ["benchmark", "evaluate", "approve", "register", "record_experience"]
    # the load test and the evaluation ran inside the graph, and their numbers are in the state
    assert [r["concurrency"] for r in state["benchmark"]["runs"]] == [1, 2]
    assert all(r["completed"] == 6 and r["failed"] == 0 for r in state["benchmark"]["runs"])
    assert state["benchmark"]["deployment"] == state["artifacts"]["deployment_name"]
    assert state["evaluations"]["addition"]["n"] == 5
    stored = state["evaluations"]["addition"]["comparison"]       # in the database, by deployment (eval list)
    assert stored["deployment"] == state["artifacts"]["deployment_name"] and stored["previous"] is None

"""The plan graph as a whole: node order, progress events, checkpoints, infeasible routing, no blocking calls."""

from __future__ import annotations

from langgraph.checkpoint.memory import InMemorySaver

from modeldeploy.graph import Context, builder, graph, make_builder

PLAN_NODES = ["probe_hardware", "inspect_model", "plan_resources", "choose_framework", "render_manifest"]


def _inputs(machine, model="tests/fixtures/models/qwen2.5-7b-instruct", hw="l4-x1", **request):
    return {"request": {"model": model, "hardware": machine(hw).model_dump(mode="json"), **request}}


def test_module_exports_an_uncompiled_builder_and_a_graph_without_checkpointer():
    assert set(PLAN_NODES) <= set(builder.nodes)
    assert graph.checkpointer is None
    assert set(PLAN_NODES) <= set(graph.get_graph().nodes)


async def test_progress_events_arrive_for_every_node_in_order(machine):
    events = []
    async for chunk in graph.astream(_inputs(machine), context=Context(use_experience=False), stream_mode="custom"):
        events.append((chunk["node"], chunk["event"]))
    starts = [node for node, kind in events if kind == "start"]
    assert starts == PLAN_NODES
    assert [node for node, kind in events if kind == "done"] == PLAN_NODES


async def test_state_is_checkpointed_and_audit_covers_every_node(machine):
    g = make_builder().compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "plan-1"}}
    await g.ainvoke(_inputs(machine), config=config, context=Context(use_experience=False))
    snapshot = await g.aget_state(config)
    assert snapshot.next == ()
    values = snapshot.values
    assert [a["node"] for a in values["audit"]] == PLAN_NODES
    assert values["decision"]["framework"] == "vllm"
    history = [s async for s in g.aget_state_history(config)]
    assert len(history) >= len(PLAN_NODES) + 1


async def test_nothing_fits_ends_after_planning_with_the_reason(machine):
    g = make_builder().compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "plan-2"}}
    state = await g.ainvoke(_inputs(machine, model="tests/fixtures/models/llama-3.1-70b-instruct", hw="rtx4090-x1"),
                            config=config, context=Context(use_experience=False))
    assert state["plan"]["feasible"] is False
    assert state.get("decision") is None and (state.get("artifacts") or {}).get("run_spec") is None
    assert state["error"].startswith("nothing fits: vllm: weights and activations exceed memory")
    assert [a["node"] for a in state["audit"]][-1] == "plan_resources"


async def test_manifests_are_written_only_when_asked(machine, tmp_path):
    state = await graph.ainvoke(_inputs(machine), context=Context(use_experience=False))
    assert state["artifacts"]["manifests"] == {}
    out = tmp_path / "out"
    state = await graph.ainvoke(_inputs(machine), context=Context(use_experience=False, out_dir=str(out)))
    assert sorted(p.name for p in out.iterdir()) == ["compose.yaml", "docker-run.json", "kubernetes.yaml"]
    assert set(state["artifacts"]["manifests"]) == {"docker_run", "compose", "kubernetes"}


async def test_nodes_make_no_blocking_calls_on_the_event_loop(machine, tmp_path):
    """`langgraph dev` refuses blocking calls in async code; blockbuster is the detector it uses."""
    from blockbuster import BlockBuster

    inputs = _inputs(machine)
    blocker = BlockBuster()
    blocker.activate()
    try:
        state = await graph.ainvoke(inputs, context=Context(out_dir=str(tmp_path / "o")))
    finally:
        blocker.deactivate()
    assert state["decision"]["decided_by"] == "rules"


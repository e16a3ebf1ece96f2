"""The HTTP API serves the five graphs as assistants (deploy, benchmark, evaluate, test, logs) with typed input
schemas, and runs the standalone `test` graph against the simulator through `langgraph_sdk`.

A real `python server.py` on a loopback port (bearer token, blockbuster active in the server: a blocking call
on its event loop fails the run); the simulator is a process on another loopback port.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from api_server import running_server
from bench_servers import SimServer

GRAPHS = ["benchmark", "deploy", "evaluate", "logs", "test"]
LOGS = Path(__file__).resolve().parents[1] / "fixtures" / "logs"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("api-subgraphs") / "home"
    with running_server(home, extra_env={"MODELDEPLOY_API_BLOCKBUSTER": "1"}) as srv:
        yield srv


@pytest.fixture(scope="module")
def sim():
    with SimServer(ttft_ms=20, tpot_ms=2) as server:
        yield server


@pytest.fixture
def client(server):
    from langgraph_sdk import get_client

    return get_client(url=server.url, headers=server.headers)


async def test_the_api_lists_five_assistants_with_typed_input_schemas(client, server):
    import httpx

    assistants = await client.assistants.search(limit=20)
    assert sorted(a["graph_id"] for a in assistants) == GRAPHS
    assert all(a["description"] for a in assistants)
    assert httpx.get(f"{server.url}/info").json()["graphs"] == GRAPHS
    required = {}
    for graph_id in GRAPHS:
        schemas = await client.assistants.get_schemas(graph_id)
        required[graph_id] = schemas["input_schema"].get("required")
    assert required == {"deploy": ["request"], "benchmark": ["endpoint", "model"],
                        "evaluate": ["endpoint", "model", "evals"], "test": ["endpoint", "model"],
                        "logs": ["source"]}
    bench = await client.assistants.get_schemas("benchmark")
    profile = bench["input_schema"]["$defs"]["BenchProfile"]["properties"]
    assert {"concurrency", "num_requests", "input_len", "output_len", "slo_ttft_ms"} <= set(profile)
    assert set(bench["output_schema"]["properties"]) == {"status", "error", "audit", "benchmark"}
    logs = await client.assistants.get_schemas("logs")
    assert logs["input_schema"]["properties"]["budget"]["minimum"] == 100
    drawing = await client.assistants.get_graph("test")
    assert {n["id"] for n in drawing["nodes"]} == {"__start__", "check_endpoint", "smoke_test", "__end__"}


async def test_the_test_graph_runs_against_a_simulator_endpoint(client, sim):
    thread = await client.threads.create()
    parts = [p async for p in client.runs.stream(thread["thread_id"], "test",
                                                  input={"endpoint": sim.url, "model": sim.model},
                                                  stream_mode=["updates", "custom"])]
    events = [p.event for p in parts]
    assert events[0] == "metadata" and events[-1] == "end" and "error" not in events, events
    assert [next(iter(p.data)) for p in parts if p.event == "updates"] == ["check_endpoint", "smoke_test"]
    assert {"node": "smoke_test", "event": "done"}.items() <= [
        p.data for p in parts if p.event == "custom" and p.data["node"] == "smoke_test"][-1].items()
    state = await client.threads.get_state(thread["thread_id"])
    values = state["values"]
    assert values["status"] == "ok" and values["smoke"]["passed"] is True
    assert [c["name"] for c in values["smoke"]["checks"] if c["ok"]] == [
        "chat", "chat_stream", "completion", "completion_stream"]


async def test_a_non_http_endpoint_is_an_error_result_and_a_malformed_input_a_422(client, server):
    import httpx

    values = await client.runs.wait(None, "test", input={"endpoint": "file:///etc/passwd", "model": "m"})
    assert values["status"] == "failed" and values["error"].startswith("endpoint must be an http(s) URL")
    thread = await client.threads.create()
    reply = httpx.post(f"{server.url}/threads/{thread['thread_id']}/runs", headers=server.headers,
                       json={"assistant_id": "logs", "input": {"source": str(LOGS / "vllm_oom.log"), "budget": 5}})
    assert reply.status_code == 422 and "budget" in reply.text


async def test_the_logs_graph_diagnoses_a_saved_log_over_http(client):
    values = await client.runs.wait(None, "logs", input={"source": str(LOGS / "vllm_bf16_cc75.log")})
    assert values["status"] == "ok"
    assert values["diagnosis"]["category"] == "dtype_unsupported" and values["diagnosis"]["fix"] == {"dtype": "float16"}
    assert "Bfloat16 is only supported" in values["digest"]["fatal"]

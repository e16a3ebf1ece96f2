"""The HTTP API against the official clients: `langgraph_sdk` (async and sync) and `RemoteGraph`.

A real `python server.py` on a loopback port (bearer token, blockbuster active in the server:
a blocking call on its event loop fails the run). Plan runs of the tiny model take about a second;
the run that must still be going when it is cancelled is a deploy whose "server" never answers.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx
import pytest
from api_server import running_server

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "models" / "tiny-llama")
PLAN = {"request": {"model": TINY, "action": "plan"}}
SILENT_SERVER = [sys.executable, "-c", "import time; time.sleep(600)"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    """The API on each backend: SQLite files, or one PostgreSQL database for threads and checkpoints."""
    from databases import fresh_database

    home = tmp_path_factory.mktemp("api") / "home"
    with fresh_database(request.param, home.parent) as url:
        env = {"MODELDEPLOY_API_BLOCKBUSTER": "1"}
        if request.param == "postgresql":
            env["MODELDEPLOY_DATABASE_URL"] = url
        with running_server(home, extra_env=env) as srv:
            srv.home, srv.database_url = home, url
            yield srv


@pytest.fixture
def client(server):
    from langgraph_sdk import get_client

    return get_client(url=server.url, headers=server.headers)


@pytest.fixture
def sync_client(server):
    from langgraph_sdk import get_sync_client

    return get_sync_client(url=server.url, headers=server.headers)


def test_assistants_graph_and_schemas(sync_client):
    (assistant,) = sync_client.assistants.search(graph_id="deploy")
    assert assistant["graph_id"] == "deploy"
    assert sync_client.assistants.get(assistant["assistant_id"])["graph_id"] == "deploy"
    drawing = sync_client.assistants.get_graph(assistant["assistant_id"], xray=True)
    nodes = {n["id"] for n in drawing["nodes"]}
    assert {"__start__", "plan_resources", "approve", "register", "cleanup", "__end__"} <= nodes
    assert {"source": "register", "target": "record_experience"} in [
        {"source": e["source"], "target": e["target"]} for e in drawing["edges"]]
    schemas = sync_client.assistants.get_schemas("deploy")
    assert schemas["input_schema"]["required"] == ["request"]
    assert "token_budget" in schemas["context_schema"]["properties"]
    assert "approval" in schemas["state_schema"]["properties"]


async def test_plan_run_streams_every_mode_between_metadata_and_end(client):
    thread = await client.threads.create(metadata={"purpose": "stream"})
    parts = [p async for p in client.runs.stream(thread["thread_id"], "deploy", input=PLAN,
                                                  stream_mode=["values", "updates", "custom", "debug"])]
    events = [p.event for p in parts]
    assert events[0] == "metadata" and events[-1] == "end", events
    run_id = parts[0].data["run_id"]
    assert {"values", "updates", "custom", "debug"} <= set(events)
    assert [int(p.id) for p in parts] == list(range(1, len(parts) + 1))  # ids a re-join can resume from
    updates = [next(iter(p.data)) for p in parts if p.event == "updates"]
    assert updates == ["probe_hardware", "inspect_model", "plan_resources", "choose_framework", "render_manifest"]
    assert {"node": "plan_resources", "event": "done"}.items() <= [
        p.data for p in parts if p.event == "custom" and p.data["node"] == "plan_resources"][-1].items()
    last_values = [p.data for p in parts if p.event == "values"][-1]
    assert last_values["decision"]["framework"] and last_values["artifacts"]["deployment_name"]

    run = await client.runs.get(thread["thread_id"], run_id)
    assert run["status"] == "success"
    state = await client.threads.get_state(thread["thread_id"])
    assert state["next"] == [] and state["values"]["decision"] == last_values["decision"]
    history = await client.threads.get_history(thread["thread_id"], limit=20)
    assert history[0]["checkpoint"]["checkpoint_id"] == state["checkpoint"]["checkpoint_id"]
    assert [h["metadata"]["step"] for h in history] == sorted((h["metadata"]["step"] for h in history), reverse=True)
    assert len(history) >= 6
    found = await client.threads.search(metadata={"purpose": "stream"})
    assert [t["thread_id"] for t in found] == [thread["thread_id"]] and found[0]["status"] == "idle"


async def test_wait_update_state_as_node_and_context(client, tmp_path):
    thread = await client.threads.create()
    out_dir = tmp_path / "manifests"
    values = await client.runs.wait(thread["thread_id"], "deploy", input=PLAN, context={"out_dir": str(out_dir)})
    assert set(values["artifacts"]["manifests"]) == {"docker-run", "compose", "kubernetes"} or values["artifacts"]["manifests"]
    assert out_dir.is_dir() and any(out_dir.iterdir()), "the run's Context.out_dir did not reach the graph"
    before = await client.threads.get_state(thread["thread_id"])
    update = await client.threads.update_state(thread["thread_id"], {"error": "checked by a person"},
                                               as_node="render_manifest")
    after = await client.threads.get_state(thread["thread_id"])
    assert after["checkpoint"]["checkpoint_id"] == update["checkpoint"]["checkpoint_id"]
    assert after["values"]["error"] == "checked by a person" and after["metadata"]["source"] == "update"
    assert after["parent_checkpoint"]["checkpoint_id"] == before["checkpoint"]["checkpoint_id"]
    old = await client.threads.get_state(thread["thread_id"], checkpoint_id=before["checkpoint"]["checkpoint_id"])
    assert "error" not in old["values"] or old["values"]["error"] is None


def test_remote_graph_invoke_state_history_and_graph(server):
    from langgraph.pregel.remote import RemoteGraph

    remote = RemoteGraph("deploy", url=server.url, headers=server.headers)
    config = {"configurable": {"thread_id": "remote-graph-1"}}
    out = remote.invoke(PLAN, config)
    assert out["decision"]["framework"] and out["plan"]["feasible"] is True
    snapshot = remote.get_state(config)
    assert snapshot.next == () and snapshot.values["decision"] == out["decision"]
    history = list(remote.get_state_history(config))
    assert history[0].config["configurable"]["checkpoint_id"] == snapshot.config["configurable"]["checkpoint_id"]
    assert "approve" in remote.get_graph().nodes
    chunks = list(remote.stream(PLAN, {"configurable": {"thread_id": "remote-graph-2"}}, stream_mode="updates"))
    assert [next(iter(c)) for c in chunks][-1] == "render_manifest"


def test_tokens_are_required_except_for_health(server):
    assert httpx.post(f"{server.url}/assistants/search", json={}).status_code == 401
    wrong = httpx.post(f"{server.url}/assistants/search", json={}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["detail"] == "invalid bearer token"
    assert httpx.get(f"{server.url}/ok").json() == {"ok": True}
    assert httpx.get(f"{server.url}/info").json()["graphs"] == ["benchmark", "deploy", "evaluate", "logs", "test"]
    from langgraph_sdk import get_sync_client

    with pytest.raises(httpx.HTTPStatusError) as exc:
        get_sync_client(url=server.url, headers={"Authorization": "Bearer nope"}).assistants.search()
    assert exc.value.response.status_code == 401


@pytest.mark.parametrize("path, body, status, says", [
    ("/threads/{t}/runs", {"assistant_id": "deploy", "input": {"request": {"model": 3}}}, 422, "valid string"),
    ("/threads/{t}/runs", {"assistant_id": "deploy", "input": PLAN, "context": {"nope": 1}}, 422, "unknown context"),
    ("/threads/{t}/runs", {"assistant_id": "deploy", "input": PLAN, "context": {"chat_model": "x"}}, 422, "Python objects"),
    ("/threads/{t}/runs", {"assistant_id": "nope", "input": PLAN}, 404, "assistant 'nope' not found"),
    ("/threads/{t}/runs", {"assistant_id": "deploy", "input": PLAN, "multitask_strategy": "rollback"}, 422, "rollback"),
    ("/threads/{t}/runs", {"assistant_id": "deploy", "input": PLAN, "stream_mode": "events"}, 422, "stream_mode"),
    ("/threads/{t}/runs", {"assistant_id": "deploy", "input": PLAN, "interrupt_before": ["nah"]}, 422, "unknown node"),
    ("/threads/{t}/runs", {"assistant_id": "deploy", "command": {"resume": True}}, 409, "not waiting on an interrupt"),
    ("/threads/missing/runs", {"assistant_id": "deploy", "input": PLAN}, 404, "thread missing"),
    ("/threads/{t}/state", {"values": {"error": "x"}, "as_node": "nah"}, 422, "unknown node"),
    ("/threads/{t}/runs", "not json", 422, "not valid JSON"),
], ids=["bad-input", "unknown-context", "object-context", "unknown-assistant", "rollback", "events-mode",
        "unknown-interrupt-node", "nothing-to-resume", "unknown-thread", "unknown-as-node", "not-json"])
def test_bad_requests_get_a_4xx_json_reason(server, sync_client, path, body, status, says):
    thread = sync_client.threads.create()
    if path.endswith("/state"):
        sync_client.runs.wait(thread["thread_id"], "deploy", input=PLAN)
    kwargs = {"content": body} if isinstance(body, str) else {"json": body}
    reply = httpx.post(server.url + path.format(t=thread["thread_id"]), headers=server.headers, **kwargs)
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    assert says in json.dumps(reply.json()["detail"])


async def test_stateless_runs_leave_no_thread(client, server):
    values = await client.runs.wait(None, "deploy", input=PLAN)
    assert values["plan"]["feasible"] is True
    parts = [p async for p in client.runs.stream(None, "deploy", input=PLAN, stream_mode="updates")]
    assert parts[0].event == "metadata" and parts[-1].event == "end"
    thread_id = parts[0].data["thread_id"]
    await client.runs.join(thread_id, parts[0].data["run_id"])
    reply = httpx.get(f"{server.url}/threads/{thread_id}/state", headers=server.headers)
    assert reply.status_code == 404


def _sse(lines: list[str]) -> list[tuple[int, str]]:
    """(id, event) of each frame in raw SSE lines."""
    frames, current = [], {}
    for line in lines:
        if not line:
            if "event" in current:
                frames.append((int(current["id"]), current["event"]))
            current = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            current[key] = value
    return frames


async def test_a_client_that_disconnects_rejoins_from_last_event_id_or_from_the_start(client, server):
    thread = await client.threads.create()
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers, timeout=60) as http:
        async with http.stream("POST", f"/threads/{thread['thread_id']}/runs/stream",
                               json={"assistant_id": "deploy", "input": PLAN, "stream_mode": ["updates", "custom"]}) as res:
            assert res.headers["location"].endswith("/stream")
            seen: list[str] = []
            async for line in res.aiter_lines():
                seen.append(line)
                if len(_sse(seen)) == 3:
                    break  # the client goes away after three events
        first = _sse(seen)
    run_id = res.headers["content-location"].rsplit("/", 1)[-1]
    rest = [p async for p in client.runs.join_stream(thread["thread_id"], run_id, last_event_id=str(first[-1][0]))]
    assert int(rest[0].id) == first[-1][0] + 1 and rest[-1].event == "end"
    assert "metadata" not in [p.event for p in rest]
    again = [p async for p in client.runs.join_stream(thread["thread_id"], run_id)]
    assert [int(p.id) for p in again] == list(range(1, len(again) + 1)) and again[0].event == "metadata"
    only_updates = [p.event for p in await _collect(client.runs.join_stream(thread["thread_id"], run_id,
                                                                            stream_mode="updates"))]
    assert set(only_updates) == {"metadata", "updates", "end"}
    assert (await client.runs.join(thread["thread_id"], run_id))["decision"]["framework"]


async def _collect(stream):
    return [p async for p in stream]


async def test_concurrent_runs_on_different_threads(client):
    threads = [await client.threads.create() for _ in range(4)]
    runs = await asyncio.gather(*(client.runs.create(t["thread_id"], "deploy", input=PLAN) for t in threads))
    results = await asyncio.gather(*(client.runs.join(r["thread_id"], r["run_id"]) for r in runs))
    assert all(r["plan"]["feasible"] for r in results)
    assert {(await client.runs.get(r["thread_id"], r["run_id"]))["status"] for r in runs} == {"success"}


async def test_cancel_reject_and_enqueue_on_a_busy_thread(client, server, monkeypatch):
    """A deploy whose server never answers is still waiting when it is cancelled; its process is then removed."""
    monkeypatch.setenv("MODELDEPLOY_HOME", str(server.home))
    from modeldeploy.tools.deployments import remove_deployment
    from modeldeploy.tools.runtimes.process_runtime import ProcessRuntime

    name = "md-api-cancel"
    thread = await client.threads.create()
    slow = {"request": {"model": TINY, "action": "deploy", "runtime": "process", "approve": True,
                        "deployment_name": name, "command": SILENT_SERVER}}
    run = await client.runs.create(thread["thread_id"], "deploy", input=slow, stream_mode=["custom"],
                                   context={"startup_timeout_s": 300})
    try:
        waiting = False
        async for part in client.runs.join_stream(thread["thread_id"], run["run_id"]):
            if part.event == "custom" and part.data["node"] == "wait_ready":
                waiting = True
                break
        assert waiting
        heartbeat = await _first_heartbeat(server, thread["thread_id"], run["run_id"])
        assert heartbeat == ": heartbeat"
        reject = httpx.post(f"{server.url}/threads/{thread['thread_id']}/runs", headers=server.headers,
                            json={"assistant_id": "deploy", "input": PLAN, "multitask_strategy": "reject"})
        assert reject.status_code == 409 and "busy" in reject.json()["detail"]
        queued = await client.runs.create(thread["thread_id"], "deploy", input=PLAN, multitask_strategy="enqueue")
        assert queued["status"] == "pending"
        assert (await client.threads.get(thread["thread_id"]))["status"] == "busy"
        await client.runs.cancel(thread["thread_id"], run["run_id"], wait=True)
        cancelled = await client.runs.get(thread["thread_id"], run["run_id"])
        assert cancelled["status"] == "interrupted" and cancelled["cancel_reason"] == "cancelled by request"
        tail = [p.event async for p in client.runs.join_stream(thread["thread_id"], run["run_id"])][-1]
        assert tail == "error"
        after = await client.runs.join(thread["thread_id"], queued["run_id"])
        assert after["plan"]["feasible"] and (await client.runs.get(thread["thread_id"], queued["run_id"]))["status"] == "success"
        listed = await client.runs.list(thread["thread_id"])
        assert [r["run_id"] for r in listed] == [queued["run_id"], run["run_id"]]
    finally:
        removed = await asyncio.to_thread(remove_deployment, name)
    assert removed["servers_removed"] == 1
    assert await asyncio.to_thread(ProcessRuntime().list) == []


async def _first_heartbeat(server, thread_id: str, run_id: str) -> str | None:
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers, timeout=30) as http:
        async with http.stream("GET", f"/threads/{thread_id}/runs/{run_id}/stream",
                               headers={"Last-Event-ID": "1000000"}) as res:
            async for line in res.aiter_lines():
                if line.startswith(":"):
                    return line
    return None


def test_without_tokens_it_refuses_every_address_but_loopback(tmp_path):
    from api_server import free_port

    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MODELDEPLOY_API_TOKENS")}
    proc = __import__("subprocess").run([sys.executable, str(ROOT / "server.py"), "--host", "0.0.0.0", "--port",
                                         str(free_port())], capture_output=True, text=True, timeout=60,
                                        env={**env, "MODELDEPLOY_HOME": str(tmp_path)})
    assert proc.returncode == 2
    assert "refusing to listen on 0.0.0.0 without authentication" in proc.stderr
    assert "MODELDEPLOY_API_TOKENS" in proc.stderr


def test_serve_command_applies_the_same_rule(monkeypatch):
    import typer
    from typer.testing import CliRunner

    from modeldeploy.cli.serve import serve_command
    from modeldeploy.errors import UserInputError

    monkeypatch.delenv("MODELDEPLOY_API_TOKENS", raising=False)
    monkeypatch.delenv("MODELDEPLOY_API_TOKENS_FILE", raising=False)
    app = typer.Typer()
    app.command()(serve_command)
    result = CliRunner().invoke(app, ["--host", "::", "--port", "8123"])
    assert isinstance(result.exception, UserInputError) and "refusing to listen on ::" in str(result.exception)


def test_a_loopback_server_without_tokens_is_open_and_tokens_file_is_read(tmp_path):
    with running_server(tmp_path / "open", token=None) as open_server:
        assert httpx.post(f"{open_server.url}/assistants/search", json={}).status_code == 200
    tokens = tmp_path / "tokens"
    tokens.write_text("# team tokens\nfirst-token\nsecond-token\n")
    with running_server(tmp_path / "file", token=None,
                        extra_env={"MODELDEPLOY_API_TOKENS_FILE": str(tokens)}) as server:
        search = f"{server.url}/assistants/search"
        assert httpx.post(search, json={}).status_code == 401
        assert httpx.post(search, json={}, headers={"Authorization": "Bearer second-token"}).status_code == 200
        assert httpx.post(search, json={}, headers={"Authorization": "Bearer # team tokens"}).status_code == 401


def test_threads_and_checkpoints_live_in_the_configured_database(server, sync_client):
    """SQLite: the thread row beside the library, the checkpoints in checkpoints.db. PostgreSQL: both in the one database."""
    from sqlalchemy import create_engine, text

    thread = sync_client.threads.create(metadata={"team": "serving"})
    sync_client.runs.wait(thread["thread_id"], "deploy", input=PLAN)
    postgres = server.database_url.startswith("postgresql")
    engine = create_engine(server.database_url if postgres else f"sqlite:///{server.home / 'modeldeploy.db'}")
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT status FROM api_thread WHERE thread_id = :t"),
                               {"t": thread["thread_id"]}).one()
            checkpoints = conn.execute(text("SELECT count(*) FROM checkpoints WHERE thread_id = :t"),
                                       {"t": thread["thread_id"]}).scalar() if postgres else None
    finally:
        engine.dispose()
    assert row.status == "idle"
    if postgres:
        assert checkpoints and checkpoints > 3
    else:
        assert (server.home / "checkpoints.db").is_file()

"""The MCP server over its real transports: a stdio subprocess and streamable HTTP subprocesses.

What a client sees: only the discovery tools at connect, `tools.listChanged: true`
advertised, a toolkit enabled for its own session only (with tools/list_changed and
the new tools' schemas), a plan through the tools, one-line errors for bad input and
for tools not enabled, progress notifications of a deployment, and nothing left
running after the deployment is removed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
from mcp import ClientSession, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_servers import Inbox, error_text, http_server, result_json, stdio_parameters
from proc_tree import carrying

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "models" / "tiny-llama")
A100 = str(ROOT / "tests" / "fixtures" / "machines" / "a100-80gb-x1.json")
LOGS = ROOT / "tests" / "fixtures" / "logs"
DISCOVERY = {"modeldeploy_list_toolkits", "modeldeploy_describe_toolkit", "modeldeploy_enable_toolkit"}
DEPLOY_TOOLS = {"plan_deployment", "deploy_model", "approve_deployment", "list_deployments", "remove_deployment"}
SIMULATOR = [sys.executable, "-m", "modeldeploy.simulator"]


async def names(session: ClientSession) -> set[str]:
    return {t.name for t in (await session.list_tools()).tools}


async def enable(session: ClientSession, inbox: Inbox, toolkit: str) -> dict:
    doc = result_json(await session.call_tool("modeldeploy_enable_toolkit", {"toolkit": toolkit}))
    with anyio.fail_after(10):  # sent on the enable request's own stream, so it is normally already here
        await inbox.list_changed.wait()
    return doc


async def test_stdio_discovery_enable_plan_and_clean_errors():
    inbox = Inbox()
    async with stdio_client(stdio_parameters()) as (read, write), \
            ClientSession(read, write, message_handler=inbox) as session:
        init = await session.initialize()
        assert init.capabilities.tools is not None and init.capabilities.tools.listChanged is True
        assert await names(session) == DISCOVERY

        refused = error_text(await session.call_tool("plan_deployment", {"model": TINY, "hardware": A100}))
        assert "not enabled" in refused and "modeldeploy_enable_toolkit" in refused and "\n" not in refused
        kits = result_json(await session.call_tool("modeldeploy_list_toolkits", {}))["toolkits"]
        assert [k["name"] for k in kits] == ["deploy", "test", "bench", "eval", "logs", "experience"]
        assert not any(k["enabled"] for k in kits)
        described = result_json(await session.call_tool("modeldeploy_describe_toolkit", {"toolkit": "deploy"}))
        assert {t["name"] for t in described["tools"]} == DEPLOY_TOOLS and not described["enabled"]
        assert await names(session) == DISCOVERY and not inbox.list_changed.is_set()  # describing enables nothing

        enabled = await enable(session, inbox, "deploy")
        assert enabled["newly_enabled"] is True and enabled["enabled_toolkits"] == ["deploy"]
        schemas = {t["name"]: t["inputSchema"] for t in enabled["tools"]}
        assert set(schemas) == DEPLOY_TOOLS and "model" in schemas["plan_deployment"]["required"]
        assert await names(session) == DISCOVERY | DEPLOY_TOOLS

        plan = result_json(await session.call_tool("plan_deployment", {"model": TINY, "hardware": A100}))
        assert plan["feasible"] is True and plan["framework"] == "vllm"
        assert plan["tensor_parallel_size"] == 1 and plan["hardware"]["gpus"][0]["name"].startswith("NVIDIA A100")
        assert plan["dtype"] == "bfloat16" and plan["max_model_len"] >= 256 and plan["memory"]["kv_tokens_per_gpu"] > 0

        again = result_json(await session.call_tool("modeldeploy_enable_toolkit", {"toolkit": "deploy"}))
        assert again["newly_enabled"] is False
        assert inbox.count(types.ToolListChangedNotification) == 1  # nothing changed the second time

        for tool, args, expected in [
            ("plan_deployment", {"model": str(ROOT / "no-such-model")}, "no-such-model"),
            ("plan_deployment", {"model": TINY, "hardware": str(ROOT / "missing.json")}, "no such hardware file"),
            ("plan_deployment", {"model": TINY, "max_gpus": "many"}, "max_gpus"),
            ("plan_deployment", {}, "model"),
            ("deploy_model", {"model": TINY, "framework": "nonsense"}, "unknown framework"),
            ("remove_deployment", {"name": "Not A Name!"}, "invalid deployment name"),
            ("modeldeploy_enable_toolkit", {"toolkit": "kitchen-sink"}, "unknown toolkit"),
            ("no_such_tool", {}, "unknown tool"),
        ]:
            message = error_text(await session.call_tool(tool, args))
            assert expected in message and "\n" not in message and "Traceback" not in message, (tool, message)
        # the server survived all of it (Docker may hold other tests' containers: none is registered in this home)
        rows = result_json(await session.call_tool("list_deployments", {}))["deployments"]
        assert all(r["status"] == "unregistered" for r in rows)


async def test_http_activation_is_per_session():
    with http_server() as url:
        inbox_a, inbox_b = Inbox(), Inbox()
        async with streamable_http_client(url) as (read_a, write_a, _), \
                ClientSession(read_a, write_a, message_handler=inbox_a) as a, \
                streamable_http_client(url) as (read_b, write_b, _), \
                ClientSession(read_b, write_b, message_handler=inbox_b) as b:
            init_a, init_b = await a.initialize(), await b.initialize()
            assert init_a.capabilities.tools.listChanged is True and init_b.capabilities.tools.listChanged is True
            assert await names(a) == DISCOVERY and await names(b) == DISCOVERY

            await enable(a, inbox_a, "deploy")
            assert await names(a) == DISCOVERY | DEPLOY_TOOLS
            assert await names(b) == DISCOVERY  # b's round trip came after a's change: b was not told, nor changed
            assert not inbox_b.list_changed.is_set()
            assert "not enabled" in error_text(await b.call_tool("plan_deployment", {"model": TINY, "hardware": A100}))

            steps: list[str | None] = []

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                steps.append(message)

            plan = result_json(await a.call_tool("plan_deployment", {"model": TINY, "hardware": A100},
                                                 progress_callback=on_progress))
            assert plan["feasible"] and plan["framework"] == "vllm" and plan["tensor_parallel_size"] == 1
            # progress travels on the request's own stream over HTTP too, before the result
            assert "plan resources: started" in steps and any(m.startswith("choose framework: ") for m in steps)

            await enable(b, inbox_b, "logs")
            assert await names(b) == DISCOVERY | {"digest_log", "diagnose_log"}
            assert await names(a) == DISCOVERY | DEPLOY_TOOLS
            kits_a = result_json(await a.call_tool("modeldeploy_list_toolkits", {}))["toolkits"]
            assert [k["name"] for k in kits_a if k["enabled"]] == ["deploy"]


async def test_deploy_with_progress_then_test_bench_eval_and_down_leaves_nothing_running():
    inbox = Inbox()
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    async with stdio_client(stdio_parameters()) as (read, write), \
            ClientSession(read, write, message_handler=inbox) as session:
        await session.initialize()
        await enable(session, inbox, "deploy")
        deployed = await session.call_tool("deploy_model", {"model": TINY, "runtime": "process", "command": SIMULATOR,
                                                            "approve": True}, progress_callback=on_progress)
        doc = result_json(deployed)
        name = doc["name"]
        try:
            assert doc["status"] == "ready" and doc["endpoint"].endswith("/v1"), doc["reasons"]
            assert len(progress) >= 3 and any("smoke test" in (m or "") for _, m in progress)
            assert [v for v, _ in progress] == sorted(v for v, _ in progress)  # in order
            rows = result_json(await session.call_tool("list_deployments", {"name": name}))["deployments"]
            assert [(r["status"], r["live"]) for r in rows] == [("ready", "running")]

            for kit in ("test", "bench", "eval"):
                await enable(session, inbox, kit)
            smoke = result_json(await session.call_tool("smoke_test_endpoint", {"deployment": name}))
            assert smoke["passed"] and {c["name"] for c in smoke["checks"]} >= {"chat", "completion_stream"}

            bench_progress: list[str | None] = []

            async def on_bench(value: float, total: float | None, message: str | None) -> None:
                bench_progress.append(message)

            bench = result_json(await session.call_tool(
                "bench_endpoint", {"deployment": name, "concurrency": [2], "num_requests": 6, "input_len": 16,
                                   "output_len": 8}, progress_callback=on_bench))
            (run,) = bench["runs"]
            assert run["completed"] == 6 and run["failed"] == 0 and run["ttft_ms"]["count"] == 6
            assert bench_progress[0].startswith("concurrency 2: started") and "req/s" in bench_progress[-1]

            scored = result_json(await session.call_tool("eval_endpoint", {"suite": "addition", "deployment": name,
                                                                           "limit": 3}))
            assert scored["suite"] == "addition" and scored["n"] == 3 and scored["error_rate"] == 0.0
        finally:
            removed = result_json(await session.call_tool("remove_deployment", {"name": name}))
        assert removed["servers_removed"] == 1
        rows = result_json(await session.call_tool("list_deployments", {"name": name}))["deployments"]
        assert all(r["live"] is None and r["status"] == "removed" for r in rows)
    assert not carrying(f"MODELDEPLOY_DEPLOYMENT={name}")


async def test_logs_and_experience_toolkits():
    inbox = Inbox()
    async with stdio_client(stdio_parameters()) as (read, write), \
            ClientSession(read, write, message_handler=inbox) as session:
        await session.initialize()
        await enable(session, inbox, "logs")
        await enable(session, inbox, "experience")
        digest = result_json(await session.call_tool("digest_log", {"source": str(LOGS / "vllm_bf16_cc75.log"),
                                                                    "budget": 400}))
        assert "Bfloat16 is only supported" in digest["fatal"] and digest["tokens"] <= 400
        diagnosis = result_json(await session.call_tool("diagnose_log", {"file": str(LOGS / "vllm_bf16_cc75.log")}))
        assert diagnosis["signature"] == "bf16_unsupported" and diagnosis["fix"] == {"dtype": "float16"}
        missing = error_text(await session.call_tool("diagnose_log", {"file": str(LOGS / "nope.log")}))
        assert "no such file" in missing and "\n" not in missing

        lesson = result_json(await session.call_tool("add_lesson", {
            "kind": "fix", "text": "On Turing GPUs serve Qwen in float16: bfloat16 needs compute capability 8.0.",
            "gpu_arch": "turing", "fix": {"dtype": "float16"}}))
        assert lesson["status"] == "candidate" and lesson["source"] == "agent"  # an agent's lesson is not trusted yet
        listed = result_json(await session.call_tool("list_lessons", {"status": "candidate"}))["lessons"]
        assert [item["id"] for item in listed] == [lesson["id"]]
        found = result_json(await session.call_tool("search_lessons", {"query": "bfloat16 compute capability",
                                                                       "gpu_arch": "turing"}))["lessons"]
        assert [item["id"] for item in found] == [lesson["id"]]
        bad = error_text(await session.call_tool("add_lesson", {"kind": "wisdom", "text": "x"}))
        assert bad.startswith("invalid argument kind") and "\n" not in bad

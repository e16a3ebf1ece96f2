"""The two LLM nodes over real HTTP, through `make_chat_model` (langchain-openai's ChatOpenAI).

No LLM provider exists on these machines, so the provider is a scripted stand-in: a
real OpenAI-compatible HTTP server on 127.0.0.1 (`tests/support/scripted_openai_server.py`)
answering each template from a script, with known token counts. What is tested is
everything on our side of the wire: the request ChatOpenAI sends (template, prompt,
bearer key), how the answer, the provider's usage and the provider's failures come back
into the decision, the repair and the state, and that the key never reaches the state.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from scripted_openai_server import HANG, Fail, ScriptedOpenAIServer

from modeldeploy.graph import Context, make_builder
from modeldeploy.tools.llm.chat_model import make_chat_model
from modeldeploy.tools.llm.structured import ask_structured
from modeldeploy.tools.planning.decide import FrameworkChoice

MODEL = "tests/fixtures/models/llama-3.1-70b-instruct"
FATAL = "WidgetError: flux capacitor misaligned"
CRASHER = [sys.executable, "-c", f"import sys; print('INFO starting'); print({FATAL!r}); sys.exit(3)"]
PROVIDER_USAGE = {"prompt_tokens": 812, "completion_tokens": 37, "estimated": False, "model": "scripted-llm"}


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch):
    """Start a scripted provider (`provider(script)`), with OPENAI_API_KEY set to its key; stopped after the test."""
    servers: list[ScriptedOpenAIServer] = []

    def start(script: dict, **options) -> ScriptedOpenAIServer:
        server = ScriptedOpenAIServer(script=script, **options).start()
        servers.append(server)
        monkeypatch.setenv("OPENAI_API_KEY", server.api_key)
        return server

    yield start
    for server in servers:
        server.stop()


def _context(server: ScriptedOpenAIServer, **settings) -> Context:
    return Context(llm_model=server.model, llm_base_url=server.base_url, use_experience=False, **settings)


async def _plan(machine, context: Context, blocker=None) -> dict:
    """Plan the 70B model on 4xA100; `blocker` (a BlockBuster) is active only while the graph runs."""
    graph = make_builder().compile(checkpointer=InMemorySaver())
    request = {"model": MODEL, "hardware": machine("a100-80gb-x4").model_dump(mode="json")}
    if blocker:
        blocker.activate()
    try:
        return await graph.ainvoke({"request": request}, config={"configurable": {"thread_id": "t"}}, context=context)
    finally:
        if blocker:
            blocker.deactivate()


async def _deploy_crasher(context: Context, checkpointer=None) -> dict:
    """Deploy the tiny model with a server that prints FATAL and exits (unscripted FrameworkChoice: a 400, the rules)."""
    graph = make_builder().compile(checkpointer=checkpointer or InMemorySaver())
    request = {"model": "models/tiny-llama", "runtime": "process", "action": "deploy", "approve": True, "command": CRASHER}
    return await graph.ainvoke({"request": request}, config={"configurable": {"thread_id": "t"}}, context=context)


# (a) choose_framework


async def test_a_valid_framework_choice_over_http_is_used_with_the_providers_usage(machine, provider):
    server = provider({"FrameworkChoice": [{"candidate": 1, "max_model_len": 131072, "rationale": "TP=4 holds 128k.",
                                            "extra_flags": ["--enable-prefix-caching"]}]})
    state = await _plan(machine, _context(server))
    decision = state["decision"]
    assert decision["decided_by"] == "llm" and decision["llm_attempts"] == 1
    assert decision["slots"]["tensor_parallel_size"] == 4 and decision["slots"]["max_model_len"] == 131072
    assert "--enable-prefix-caching" in state["artifacts"]["run_spec"]["command"]
    assert state["usage"] == [{"node": "choose_framework", "calls": 1, **PROVIDER_USAGE}]
    (request,) = server.completions()
    assert request.body["tool_choice"] == {"type": "function", "function": {"name": "FrameworkChoice"}}
    assert "A100" in request.prompt() and "LlamaForCausalLM" in request.prompt()
    assert decision["prompt_tokens"] == math.ceil(len(request.prompt()) / 4)  # the estimate is of what was sent


@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
async def test_an_invalid_answer_over_http_is_reasked_then_the_rules_decide(machine, provider, monkeypatch, method):
    monkeypatch.setenv("MODELDEPLOY_LLM_METHOD", method)
    server = provider({"FrameworkChoice": [{"candidate": 42, "max_model_len": 4096, "rationale": "x"},
                                           "vLLM would be great here!"]})
    state = await _plan(machine, _context(server))
    decision = state["decision"]
    assert decision["decided_by"] == "rules" and decision["slots"]["tensor_parallel_size"] == 2
    first, second = server.completions("FrameworkChoice")
    if method == "json_schema":
        assert second.body["response_format"]["json_schema"]["name"] == "FrameworkChoice" and "tools" not in second.body
    assert "rejected" in second.prompt() and "not one of the feasible indexes" in second.prompt()
    assert "not one of the feasible indexes" in decision["rejected_answers"][0]
    assert "did not fit the template" in decision["rejected_answers"][1]
    assert state["usage"] == [{"node": "choose_framework", "calls": 1, **PROVIDER_USAGE}] * 2


async def test_a_streamed_call_still_reports_the_providers_usage(machine, provider):
    """stream_mode="messages" (what an HTTP API streams) makes ChatOpenAI stream; usage must still arrive."""
    server = provider({"FrameworkChoice": [{"candidate": 1, "max_model_len": 65536, "rationale": "TP=4."}]})
    graph = make_builder().compile(checkpointer=InMemorySaver())
    request = {"model": MODEL, "hardware": machine("a100-80gb-x4").model_dump(mode="json")}
    async for _ in graph.astream({"request": request}, config={"configurable": {"thread_id": "t"}},
                                 context=_context(server), stream_mode="messages"):
        pass
    state = (await graph.aget_state({"configurable": {"thread_id": "t"}})).values
    (request,) = server.completions()
    assert request.body["stream"] is True
    assert state["decision"]["decided_by"] == "llm" and state["decision"]["slots"]["max_model_len"] == 65536
    assert state["usage"] == [{"node": "choose_framework", "calls": 1, **PROVIDER_USAGE}]


async def test_a_provider_that_never_answers_is_a_failed_call_not_an_exception(provider):
    server = provider({"FrameworkChoice": [HANG, HANG]})  # the SDK retries once
    llm = make_chat_model(server.model, server.base_url, timeout_s=0.3)
    answer = await ask_structured(llm, FrameworkChoice, [("human", "choose")])
    assert answer.parsed is None and answer.error.startswith("LLM call failed") and "Timeout" in answer.error
    assert answer.estimated and answer.completion_tokens == 0
    assert len(server.completions()) == 2


# (b) diagnose_failure


async def test_an_unknown_failure_gets_the_scripted_fix_over_http(provider):
    server = provider({"FixChoice": [{"category": "other", "fix": {"enforce_eager": True}, "rationale": "try eager"},
                                     {"category": "other", "action_for_human": "realign the flux capacitor",
                                      "rationale": "eager did not help"}]})
    state = await _deploy_crasher(_context(server, poll_interval_s=0.05))
    assert state["status"] == "failed" and [a["outcome"] for a in state["attempts"]] == ["crashed", "crashed"]
    first, second = state["repairs"]
    assert (first["decided_by"], first["fix"], first["fatal"]) == ("llm", {"enforce_eager": True}, FATAL)
    assert state["attempts"][1]["slots"]["enforce_eager"] is True
    assert second["decided_by"] == "llm" and second["action_for_human"] == "realign the flux capacitor"
    assert [u for u in state["usage"] if u["node"] == "diagnose_failure"] == [
        {"node": "diagnose_failure", "calls": 1, **PROVIDER_USAGE}] * 2
    asked = server.completions("FixChoice")
    assert len(asked) == 2
    for request in asked:
        assert FATAL in request.prompt() and len(request.prompt_text()) / 4 < 1500


async def test_a_provider_error_leaves_the_diagnosis_to_the_rules(provider):
    server = provider({"FixChoice": [Fail(500), Fail(500)]})  # the SDK retries once
    state = await _deploy_crasher(_context(server, poll_interval_s=0.05))
    assert state["status"] == "failed" and len(state["attempts"]) == 1
    (repair,) = state["repairs"]
    assert repair["decided_by"] == "rules" and repair["fix"] is None and repair["action_for_human"]
    assert "LLM call failed" in repair["reason"] and "500" in repair["reason"]
    assert "A person must" in state["error"] and "Traceback" not in state["error"]
    (usage,) = [u for u in state["usage"] if u["node"] == "diagnose_failure"]
    assert usage["estimated"] is True and usage["completion_tokens"] == 0
    assert len(server.completions("FixChoice")) == 2


# (c) the API key


async def test_the_api_key_is_the_bearer_header_and_nowhere_in_the_run(provider, isolated_home: Path):
    server = provider({"FixChoice": [{"category": "other", "action_for_human": "call the vendor", "rationale": "unknown"}]},
                      api_key="sk-test-Zq8mW3vR5tY1uP0oK7")
    saver = InMemorySaver()
    state = await _deploy_crasher(_context(server, poll_interval_s=0.05), checkpointer=saver)
    assert state["repairs"][0]["decided_by"] == "llm"
    assert server.completions() and all(r.headers["authorization"] == f"Bearer {server.api_key}" for r in server.requests)
    key = server.api_key
    assert key not in json.dumps(state, default=str)
    assert key.encode() not in repr(saver.storage).encode() + repr(saver.writes).encode()
    for path in isolated_home.rglob("*"):
        assert not path.is_file() or key.encode() not in path.read_bytes(), path


async def test_a_rejected_key_echoed_by_the_provider_does_not_reach_the_state(machine, provider, monkeypatch):
    """Some providers quote the key they refused; the error text goes into the decision, so it is redacted."""
    server = provider({"FrameworkChoice": [{"candidate": 1, "max_model_len": 8192, "rationale": "never sent"}]})
    wrong = "sk-wrong-4fJ9sQ2xL7nB"
    monkeypatch.setenv("OPENAI_API_KEY", wrong)
    state = await _plan(machine, _context(server))
    assert server.requests[0].headers["authorization"] == f"Bearer {wrong}"
    decision = state["decision"]
    assert decision["decided_by"] == "rules" and "401" in decision["rejected_answers"][0]
    assert wrong not in json.dumps(state, default=str)


def test_make_chat_model_leaves_the_import_and_the_clients_to_a_worker_thread(monkeypatch):
    """The nodes call it on the event loop: importing langchain-openai there blocks it for about a second."""
    monkeypatch.setitem(sys.modules, "langchain_openai", None)  # importing it now raises
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unused-key-123")
    endpoint = make_chat_model("some-model", "http://127.0.0.1:9/v1")
    assert (endpoint.model_name, endpoint.base_url) == ("some-model", "http://127.0.0.1:9/v1")
    assert "sk-unused-key-123" not in repr(endpoint)


async def test_the_http_llm_path_makes_no_blocking_calls(machine, provider):
    """choose_framework's call over HTTP under blockbuster (what `langgraph dev` enforces)."""
    from blockbuster import BlockBuster

    server = provider({"FrameworkChoice": [{"candidate": 1, "max_model_len": 65536, "rationale": "TP=4."}]})
    state = await _plan(machine, _context(server), blocker=BlockBuster())
    assert state["decision"]["decided_by"] == "llm" and state["usage"][0]["estimated"] is False

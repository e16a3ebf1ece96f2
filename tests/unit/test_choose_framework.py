"""choose_framework: rules without an LLM, a scripted LLM (stand-in: no provider here), experience recipes."""

from __future__ import annotations

from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from scripted_chat import ScriptedChatModel

from modeldeploy.graph import Context, make_builder

MODEL = "tests/fixtures/models/llama-3.1-70b-instruct"


def _graph():
    return make_builder().compile(checkpointer=InMemorySaver())


async def _run(machine, context: Context, model: str = MODEL, hw: str = "a100-80gb-x4", **request):
    graph = _graph()
    request = {"model": model, "hardware": machine(hw).model_dump(mode="json"), **request}
    return await graph.ainvoke({"request": request}, config={"configurable": {"thread_id": "t"}}, context=context)


async def test_without_llm_the_rules_decide_and_say_so(machine):
    state = await _run(machine, Context(use_experience=False))
    decision = state["decision"]
    assert decision["decided_by"] == "rules"
    assert "No LLM is configured" in decision["rationale"]
    assert (decision["framework"], decision["slots"]["tensor_parallel_size"]) == ("vllm", 2)
    assert state["usage"] == []


async def test_a_valid_llm_answer_is_used(machine):
    # candidate 1 is vLLM TP=4, which holds the full context
    llm = ScriptedChatModel(script=[{"candidate": 1, "max_model_len": 131072, "rationale": "TP=4 holds 128k context.",
                                     "extra_flags": ["--enable-prefix-caching"]}],
                            usage={"input": 900, "output": 40})
    state = await _run(machine, Context(chat_model=llm, use_experience=False))
    decision = state["decision"]
    assert decision["decided_by"] == "llm" and decision["llm_attempts"] == 1
    assert decision["slots"]["tensor_parallel_size"] == 4 and decision["slots"]["max_model_len"] == 131072
    assert decision["slots"]["extra_flags"] == ["--enable-prefix-caching"]
    assert state["usage"] == [{"node": "choose_framework", "calls": 1, "prompt_tokens": 900, "completion_tokens": 40,
                               "estimated": False, "model": "ScriptedChatModel"}]
    assert "--enable-prefix-caching" in state["artifacts"]["run_spec"]["command"]


@pytest.mark.parametrize("bad_answer,why", [
    ({"candidate": 42, "max_model_len": 4096, "rationale": "x"}, "not one of the feasible indexes"),
    ({"candidate": 0, "max_model_len": 10_000_000, "rationale": "x"}, "exceeds what fits"),
    ({"candidate": 0, "max_model_len": 8192, "rationale": "x", "extra_flags": ["--foo; rm -rf /"]}, "not allowed"),
    ({"candidate": 0, "max_model_len": 8192, "rationale": "x", "kv_cache_dtype": "fp8"}, "fp8 KV cache"),
    ("I think vLLM would be great!", "did not fit the template"),
], ids=["unknown-candidate", "context-too-long", "flag-not-allowed", "fp8-kv-on-a100", "prose-instead-of-template"])
async def test_an_invalid_answer_is_reasked_once_then_the_rules_decide(machine, bad_answer, why):
    second = dict(bad_answer) if isinstance(bad_answer, dict) else bad_answer
    llm = ScriptedChatModel(script=[bad_answer, second])
    state = await _run(machine, Context(chat_model=llm, use_experience=False))
    decision = state["decision"]
    assert decision["decided_by"] == "rules"
    assert len(llm.prompts) == 2  # asked, then re-asked once
    assert "rejected" in llm.prompts[1][-1].content and why in llm.prompts[1][-1].content
    assert len(decision["rejected_answers"]) == 2 and why in decision["rejected_answers"][0]
    assert decision["slots"]["tensor_parallel_size"] == 2
    assert sum(u["calls"] for u in state["usage"]) == 2
    assert all(u["estimated"] for u in state["usage"])  # the script reports no usage: estimates, labelled


async def test_a_corrected_second_answer_is_accepted(machine):
    llm = ScriptedChatModel(script=[{"candidate": 42, "max_model_len": 4096, "rationale": "x"},
                                    {"candidate": 0, "max_model_len": 16384, "rationale": "shorter context is enough"}])
    state = await _run(machine, Context(chat_model=llm, use_experience=False))
    assert state["decision"]["decided_by"] == "llm" and state["decision"]["llm_attempts"] == 2
    assert state["decision"]["slots"]["max_model_len"] == 16384


async def test_token_budget_exhausted_falls_back_to_rules_without_calling(machine):
    llm = ScriptedChatModel(script=[{"candidate": 0, "max_model_len": 8192, "rationale": "x"}])
    state = await _run(machine, Context(chat_model=llm, use_experience=False, token_budget=50))
    assert state["decision"]["decided_by"] == "rules"
    assert llm.prompts == []
    assert "token budget" in state["decision"]["rationale"]


async def test_prompt_is_compact_and_carries_facts_notes_and_lessons(machine):
    from modeldeploy.experience_store import add_lesson, open_database

    db = open_database()
    add_lesson(db, kind="rule", text="Llama 70B on A100: enable prefix caching for chat workloads.", family="llama")
    llm = ScriptedChatModel(script=[{"candidate": 0, "max_model_len": 8192, "rationale": "ok"}])
    state = await _run(machine, Context(chat_model=llm), model="tests/fixtures/models/qwen2.5-7b-instruct")
    prompt = llm.prompts[0][-1].content
    assert "Qwen2ForCausalLM" in prompt and "A100" in prompt and "vllm serve" in prompt
    assert state["decision"]["prompt_tokens"] < 1500
    assert "prefix caching" not in prompt  # scoped to the llama family, this is qwen2
    llm2 = ScriptedChatModel(script=[{"candidate": 0, "max_model_len": 8192, "rationale": "ok"}])
    state2 = await _run(machine, Context(chat_model=llm2))
    assert "prefix caching" in llm2.prompts[0][-1].content
    assert state2["decision"]["lessons_used"]


async def test_a_verified_recipe_skips_the_llm(machine):
    from modeldeploy.experience_store import open_database, record_run

    hw = machine("a100-80gb-x4")
    db = open_database()
    record_run(db, model_id=str(Path(MODEL).resolve()), hardware_fingerprint=hw.fingerprint(), framework="vllm", outcome="success",
               image="vllm/vllm-openai:v0.8.5", config={"tensor_parallel_size": 4, "max_model_len": 65536})
    llm = ScriptedChatModel(script=[])
    state = await _run(machine, Context(chat_model=llm))
    decision = state["decision"]
    assert decision["decided_by"] == "experience" and llm.prompts == []
    assert decision["slots"]["tensor_parallel_size"] == 4 and decision["slots"]["max_model_len"] == 65536


async def test_user_forced_framework_is_recorded_as_user(machine):
    state = await _run(machine, Context(use_experience=False), framework="sglang")
    assert state["decision"]["decided_by"] == "user" and state["decision"]["framework"] == "sglang"


async def test_a_broken_database_does_not_stop_planning(machine, tmp_path):
    (tmp_path / "not-a-db").write_text("garbage" * 100)
    state = await _run(machine, Context(database_url=f"sqlite:///{tmp_path / 'not-a-db'}"))
    assert state["decision"]["decided_by"] == "rules"
    audit = next(a for a in state["audit"] if a["node"] == "choose_framework")
    assert "experience library unavailable" in audit["detail"]["experience_error"]

"""diagnose_failure's LLM path: an error no rule knows goes to the (scripted: no provider here) LLM.

The "server" is a real local process that prints an unknown error and exits; the fix the LLM
fills in is validated and applied, the attempts stay bounded, and the prompt stays small.
"""

from __future__ import annotations

import sys

from scripted_chat import ScriptedChatModel

from modeldeploy.graph import Context, graph

CRASHER = [sys.executable, "-c", "import sys; print('INFO starting'); print('WidgetError: flux capacitor misaligned'); "
           "sys.exit(3)"]


def _inputs(**extra):
    return {"request": {"model": "models/tiny-llama", "runtime": "process", "action": "deploy", "approve": True,
                        "command": CRASHER, **extra}}


async def test_unknown_failure_goes_to_the_llm_and_attempts_are_bounded():
    answers = [{"category": "other", "fix": {"enforce_eager": True}, "rationale": "try eager mode"},
               {"category": "other", "fix": {"max_num_seqs": 8}, "rationale": "fewer sequences"},
               {"category": "other", "fix": {"max_num_seqs": 4}, "rationale": "never reached"}]
    llm = ScriptedChatModel(script={"FixChoice": list(answers)}, usage={"input": 700, "output": 30})
    state = await graph.ainvoke(_inputs(), context=Context(chat_model=llm, poll_interval_s=0.05, use_experience=False))
    assert state["status"] == "failed"
    assert [a["outcome"] for a in state["attempts"]] == ["crashed", "crashed", "crashed"]
    repairs = state["repairs"]
    assert [r["decided_by"] for r in repairs[:2]] == ["llm", "llm"]
    assert repairs[0]["fix"] == {"enforce_eager": True} and repairs[0]["fatal"] == "WidgetError: flux capacitor misaligned"
    assert state["attempts"][1]["slots"]["enforce_eager"] is True
    assert "still failing after 3 attempts" in state["error"]
    llm_usage = [u for u in state["usage"] if u["node"] == "diagnose_failure"]
    assert len(llm_usage) == 3 and all(u["prompt_tokens"] == 700 for u in llm_usage)
    prompt = next(p[-1].content for p in llm.prompts if "WidgetError" in p[-1].content)
    assert "WidgetError: flux capacitor misaligned" in prompt and len(prompt) / 4 < 1500


async def test_an_llm_fix_outside_the_plan_is_refused_and_a_person_is_asked():
    llm = ScriptedChatModel(script={"FixChoice": [{"category": "oom_or_kv_cache", "fix": {"tensor_parallel_size": 8},
                                                   "rationale": "more GPUs"}]})
    state = await graph.ainvoke(_inputs(), context=Context(chat_model=llm, poll_interval_s=0.05, use_experience=False))
    assert state["status"] == "failed" and len(state["attempts"]) == 1
    assert "tensor_parallel_size 8 is not feasible" in state["repairs"][0]["action_for_human"]


async def test_without_an_llm_an_unknown_failure_ends_with_a_human_action():
    state = await graph.ainvoke(_inputs(), context=Context(poll_interval_s=0.05, use_experience=False))
    assert state["status"] == "failed" and len(state["attempts"]) == 1
    (repair,) = state["repairs"]
    assert repair["category"] == "other" and repair["fix"] is None and repair["action_for_human"]
    assert state["usage"] == []


async def test_a_million_line_log_still_gives_a_small_prompt_with_the_fatal_line():
    """Token economy: the server writes 1,000,000 noisy lines, then dies; the LLM prompt stays under 1,500 tokens."""
    noisy = [sys.executable, "-c",
             "import sys\n"
             "w = sys.stdout.write\n"
             "for i in range(1_000_000):\n"
             "    w(f'INFO 11-25 12:00:{i % 60:02d} [loader.py:{i % 97}] Loading shard {i % 7} chunk {i} at 0x{i:08x}\\n')\n"
             "    if i % 50_000 == 7: w(f'WARNING deprecated option --foo-{i % 3} will be removed\\n')\n"
             "w('GizmoError: sprocket {} jammed in layer 17\\n'.format(12345))\n"
             "sys.exit(3)\n"]
    llm = ScriptedChatModel(script={"FixChoice": [{"category": "other", "action_for_human": "replace the sprocket",
                                                   "rationale": "unknown hardware fault"}]})
    state = await graph.ainvoke({"request": {"model": "models/tiny-llama", "runtime": "process", "action": "deploy",
                                             "approve": True, "command": noisy}},
                                context=Context(chat_model=llm, poll_interval_s=0.05, use_experience=False,
                                                startup_timeout_s=120))
    prompt = next(p[-1].content for p in llm.prompts if "GizmoError" in p[-1].content)
    assert "GizmoError: sprocket 12345 jammed in layer 17" in prompt
    assert len(prompt) / 4 < 1500
    (repair,) = state["repairs"]
    assert repair["decided_by"] == "llm" and repair["action_for_human"] == "replace the sprocket"
    assert state["status"] == "failed"

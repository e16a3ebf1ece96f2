"""examples/agent_with_mcp_tools.py: a LangGraph agent on the MCP tools (langchain-mcp-adapters, stdio).

A scripted tool-calling model stands in for the LLM: it enables the deploy
toolkit, then calls the plan tool (offered only after the agent listed the tools
again), then answers from the plan it got back through the agent.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from langchain_core.messages import AIMessage, ToolMessage
from scripted_tool_calls import ScriptedToolCaller

ROOT = Path(__file__).resolve().parents[2]
A100 = str(ROOT / "tests" / "fixtures" / "machines" / "a100-80gb-x1.json")
TINY = str(ROOT / "models" / "tiny-llama")


def load_example():
    spec = importlib.util.spec_from_file_location("agent_with_mcp_tools", ROOT / "examples" / "agent_with_mcp_tools.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def text_of(message: ToolMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(block["text"] if isinstance(block, dict) else str(block) for block in content)


def answer_from_plan(messages):
    plan = json.loads(text_of(next(m for m in reversed(messages) if isinstance(m, ToolMessage))))
    return AIMessage(content=f"Serve it with {plan['framework']} at tensor parallel {plan['tensor_parallel_size']}.")


async def test_agent_enables_the_deploy_toolkit_and_plans_through_the_mcp_tools():
    example = load_example()
    model = ScriptedToolCaller(script=[
        ("modeldeploy_enable_toolkit", {"toolkit": "deploy"}),
        ("plan_deployment", {"model": TINY, "hardware": A100}),
        answer_from_plan,
    ])
    messages = await example.run_agent(model, "Plan the tiny model on one A100.")

    assert "plan_deployment" not in model.offered[0] and "modeldeploy_enable_toolkit" in model.offered[0]
    assert "plan_deployment" in model.offered[1]  # listed again after the enable call
    tool_messages = [m for m in messages if isinstance(m, ToolMessage)]
    assert [m.name for m in tool_messages] == ["modeldeploy_enable_toolkit", "plan_deployment"]
    assert all(m.status == "success" for m in tool_messages)
    plan = json.loads(text_of(tool_messages[1]))
    assert plan["feasible"] is True and plan["framework"] == "vllm" and plan["tensor_parallel_size"] == 1
    assert messages[-1].content == "Serve it with vllm at tensor parallel 1."


async def test_a_tool_of_a_toolkit_not_enabled_comes_back_as_an_error_the_model_sees():
    example = load_example()
    model = ScriptedToolCaller(script=[("plan_deployment", {"model": TINY}), "I need the deploy toolkit first."])
    messages = await example.run_agent(model, "Plan the tiny model.")
    (refused,) = [m for m in messages if isinstance(m, ToolMessage)]
    assert refused.status == "error" and "enable its toolkit first" in text_of(refused)
    assert messages[-1].content == "I need the deploy toolkit first."

"""A LangGraph agent that uses modeldeploy's MCP tools, loaded through langchain-mcp-adapters.

    MODELDEPLOY_LLM_MODEL=gpt-4.1-mini OPENAI_API_KEY=... \
        python examples/agent_with_mcp_tools.py "Plan models/tiny-llama on tests/fixtures/machines/a100-80gb-x1.json"

The server runs as a stdio subprocess (`python -m modeldeploy.mcp_server`) with one
persistent session (`client.session(name)` + `load_mcp_tools`): toolkit activations
live in the session, so the per-call sessions of `client.get_tools()` would lose them.
At first the session lists only the discovery tools; the model enables a toolkit
with `modeldeploy_enable_toolkit`. The adapters do not follow
`notifications/tools/list_changed` (langchain-mcp-adapters#435), so after an
enable call the agent lists the tools again and binds the new set on its next turn.

`run_agent(model, request)` takes any LangChain chat model that supports
`bind_tools`; nothing here needs a particular provider.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool
from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_mcp_adapters.tools import load_mcp_tools
from langgraph.graph import END, START, MessagesState, StateGraph

SERVER_NAME = "modeldeploy"
ENABLE_TOOLKIT = "modeldeploy_enable_toolkit"
SYSTEM = ("You operate modeldeploy through its tools. Call modeldeploy_list_toolkits to see the toolkits and "
          "modeldeploy_enable_toolkit to enable the one you need; its tools are available on your next turn.")


def server_connections(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The MultiServerMCPClient configuration: modeldeploy's MCP server over stdio, from this Python environment.

    The server acts as the user who runs it; a stdio client passes only a minimal environment unless told
    otherwise, so hand over what the tools need (MODELDEPLOY_HOME, HF_TOKEN, DOCKER_HOST, KUBECONFIG...).
    """
    return {SERVER_NAME: {"transport": "stdio", "command": sys.executable, "args": ["-m", "modeldeploy.mcp_server"],
                          "env": dict(os.environ if env is None else env)}}


class McpToolbox:
    """The LangChain tools the MCP session lists right now."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.tools: list[BaseTool] = []

    async def refresh(self) -> None:
        self.tools = await load_mcp_tools(self.session, server_name=SERVER_NAME)

    def get(self, name: str) -> BaseTool | None:
        return next((t for t in self.tools if t.name == name), None)


def build_agent(model: BaseChatModel, toolbox: McpToolbox):
    """A tool-calling loop (model -> tools -> model ...) whose tool set follows the session's enabled toolkits."""

    async def call_model(state: MessagesState) -> dict[str, list[BaseMessage]]:
        bound = model.bind_tools(toolbox.tools)
        return {"messages": [await bound.ainvoke([SystemMessage(SYSTEM), *state["messages"]])]}

    async def call_tools(state: MessagesState) -> dict[str, list[BaseMessage]]:
        calls = state["messages"][-1].tool_calls
        results: list[BaseMessage] = []
        for call in calls:  # in order: a later call may need the toolkit an earlier one enabled
            tool = toolbox.get(call["name"])
            if tool is None:
                results.append(ToolMessage(f"tool {call['name']} is not available: enable its toolkit first",
                                           tool_call_id=call["id"], name=call["name"], status="error"))
                continue
            results.append(await tool.ainvoke(call))
            if call["name"] == ENABLE_TOOLKIT:
                await toolbox.refresh()  # the adapters ignore tools/list_changed: list again
        return {"messages": results}

    def route_after_model(state: MessagesState) -> Literal["tools", "__end__"]:
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else END

    graph = StateGraph(MessagesState)
    graph.add_node("model", call_model)
    graph.add_node("tools", call_tools)
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", route_after_model, ["tools", END])
    graph.add_edge("tools", "model")
    return graph.compile(name="modeldeploy-mcp-agent")


async def run_agent(model: BaseChatModel, request: str, connections: dict[str, Any] | None = None,
                    max_steps: int = 24) -> list[BaseMessage]:
    """Run the agent on `request` against a fresh MCP server; returns the conversation."""
    client = MultiServerMCPClient(connections or server_connections())
    async with client.session(SERVER_NAME) as session:
        toolbox = McpToolbox(session)
        await toolbox.refresh()
        agent = build_agent(model, toolbox)
        final = await agent.ainvoke({"messages": [HumanMessage(request)]}, {"recursion_limit": max_steps})
    return final["messages"]


def _chat_model_from_env() -> BaseChatModel:
    name = os.environ.get("MODELDEPLOY_LLM_MODEL")
    if not name:
        sys.exit("set MODELDEPLOY_LLM_MODEL (and OPENAI_BASE_URL and/or OPENAI_API_KEY) to run this example")
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(model=name, temperature=0)


def main() -> None:
    request = " ".join(sys.argv[1:]) or "Plan models/tiny-llama on tests/fixtures/machines/a100-80gb-x1.json."
    messages = asyncio.run(run_agent(_chat_model_from_env(), request))
    print(messages[-1].content)


if __name__ == "__main__":
    main()

"""A scripted tool-calling chat model: the stand-in for an LLM that drives an agent through tools.

Each call answers with the next scripted step: a `(tool name, args)` pair becomes
an AIMessage with that tool call, a string becomes the final text answer, and a
callable gets the conversation and returns the AIMessage (to answer from a tool
result). It records the tool names it was bound to at each call, so a test can
see which tools the agent offered when.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field


class ScriptedToolCaller(BaseChatModel):
    script: list[Any]
    bound_tools: list[str] = Field(default_factory=list)
    offered: list[list[str]] = Field(default_factory=list, description="Tool names bound, per model call.")
    seen: list[list[BaseMessage]] = Field(default_factory=list, description="Messages received, per model call.")

    @property
    def _llm_type(self) -> str:
        return "scripted-tool-caller"

    def bind_tools(self, tools: Any, **kwargs: Any) -> "ScriptedToolCaller":
        # the same script and records, with this call's tool names
        self.bound_tools = [getattr(t, "name", None) or t["name"] for t in tools]
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        self.offered.append(list(self.bound_tools))
        self.seen.append(list(messages))
        if not self.script:
            raise RuntimeError("the scripted tool caller has no step left")
        step = self.script.pop(0)
        if callable(step):
            message = step(messages)
        elif isinstance(step, tuple):
            name, args = step
            message = AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call_{len(self.seen)}",
                                                         "type": "tool_call"}])
        else:
            message = AIMessage(content=str(step))
        return ChatResult(generations=[ChatGeneration(message=message)])

"""A scripted chat model: the stand-in for an LLM provider, which these machines do not have.

It answers each call with the next scripted item: a dict becomes a tool call
filling the requested template, a string becomes plain text (a non-answer).
It records the prompts it was sent so tests can check their size and content.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field


class ScriptedChatModel(BaseChatModel):
    script: list[Any]
    tool_name: str = "FrameworkChoice"
    prompts: list[list[BaseMessage]] = Field(default_factory=list)
    usage: dict[str, int] | None = None

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> "ScriptedChatModel":
        return self

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        self.prompts.append(list(messages))
        if not self.script:
            raise RuntimeError("scripted chat model ran out of answers")
        item = self.script.pop(0)
        usage = None
        if self.usage:
            usage = {"input_tokens": self.usage["input"], "output_tokens": self.usage["output"],
                     "total_tokens": self.usage["input"] + self.usage["output"]}
        if isinstance(item, dict):
            message = AIMessage(content="", tool_calls=[{"name": self.tool_name, "args": item, "id": f"call_{len(self.prompts)}"}],
                                usage_metadata=usage)
        else:
            message = AIMessage(content=str(item), usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])

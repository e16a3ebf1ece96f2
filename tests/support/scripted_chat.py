"""A scripted chat model: the stand-in for an LLM provider, which these machines do not have.

It answers each call with the next scripted item: a dict becomes a tool call
filling the requested template, a string becomes plain text (a non-answer).
`script` is a list (answers in order, whatever the template) or a dict of lists
keyed by template name ("FrameworkChoice", "FixChoice"), so one model can serve
both LLM nodes of a run.
It records the prompts it was sent so tests can check their size and content.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field


class ScriptedChatModel(BaseChatModel):
    script: list[Any] | dict[str, list[Any]]
    tool_name: str = "FrameworkChoice"
    prompts: list[list[BaseMessage]] = Field(default_factory=list)
    usage: dict[str, int] | None = None

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        name = getattr(tools[0], "__name__", None) if tools else None
        if not name:
            return self
        bound = _Bound(self, name)
        return bound

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        return self.answer(messages, self.tool_name)

    def answer(self, messages: list[BaseMessage], tool_name: str) -> ChatResult:
        self.prompts.append(list(messages))
        queue = self.script.get(tool_name, []) if isinstance(self.script, dict) else self.script
        if not queue:
            raise RuntimeError(f"scripted chat model has no answer left for {tool_name}")
        item = queue.pop(0)
        usage = None
        if self.usage:
            usage = {"input_tokens": self.usage["input"], "output_tokens": self.usage["output"],
                     "total_tokens": self.usage["input"] + self.usage["output"]}
        if isinstance(item, dict):
            message = AIMessage(content="", tool_calls=[{"name": tool_name, "args": item, "id": f"call_{len(self.prompts)}"}],
                                usage_metadata=usage)
        else:
            message = AIMessage(content=str(item), usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])


class _Bound(BaseChatModel):
    """The scripted model bound to one template (what `with_structured_output` asks for)."""

    parent: Any
    name: str

    def __init__(self, parent: ScriptedChatModel, name: str):
        super().__init__(parent=parent, name=name)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        return self.parent.answer(messages, self.name)

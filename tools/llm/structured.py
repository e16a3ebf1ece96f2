"""Ask a chat model to fill a pydantic template, and account for the tokens it cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from modeldeploy.tools.llm.tokens import estimate_tokens, usage_of


@dataclass
class StructuredAnswer:
    parsed: BaseModel | None
    error: str | None
    prompt_tokens: int
    completion_tokens: int
    estimated: bool


async def ask_structured(llm: Any, schema: type[BaseModel], messages: list[tuple[str, str]]) -> StructuredAnswer:
    """One call; a transport or parsing failure is an answer with `error`, never an exception."""
    prompt_size = estimate_tokens("".join(text for _, text in messages))
    try:
        runnable = llm.with_structured_output(schema, include_raw=True)
        result = await runnable.ainvoke(messages)
    except Exception as exc:  # provider errors come in many types; the caller falls back to rules
        return StructuredAnswer(None, f"LLM call failed: {exc.__class__.__name__}: {str(exc)[:200]}", prompt_size, 0, True)
    raw, parsed, error = result.get("raw"), result.get("parsed"), result.get("parsing_error")
    usage = usage_of(raw)
    if usage:
        prompt_tokens, completion_tokens, estimated = usage[0], usage[1], False
    else:
        completion_tokens = estimate_tokens(str(getattr(raw, "content", "")) + str(getattr(raw, "tool_calls", "")))
        prompt_tokens, estimated = prompt_size, True
    if parsed is None:
        return StructuredAnswer(None, f"answer did not fit the template: {str(error)[:200] if error else 'no answer'}",
                                prompt_tokens, completion_tokens, estimated)
    return StructuredAnswer(parsed, None, prompt_tokens, completion_tokens, estimated)

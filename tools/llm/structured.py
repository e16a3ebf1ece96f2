"""Ask a chat model to fill a pydantic template, and account for the tokens it cost.

The template is requested as a forced tool call ("function_calling") by default, or
as a `response_format` JSON schema when `MODELDEPLOY_LLM_METHOD=json_schema` (for
endpoints without tool calling). Either way the answer is validated here, by the
template, so an answer that does not fit is a *misfit* (the caller re-asks), never a
failed call. (langchain-openai's default, json_schema with the pydantic class, lets the
OpenAI SDK validate and raise, which is indistinguishable from a transport error.)
"""

from __future__ import annotations

import asyncio
import inspect
import os
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from modeldeploy.tools.llm.chat_model import OpenAIEndpoint
from modeldeploy.tools.llm.tokens import estimate_tokens, usage_of

METHODS = ("function_calling", "json_schema")


@dataclass
class StructuredAnswer:
    parsed: BaseModel | None
    error: str | None
    prompt_tokens: int
    completion_tokens: int
    estimated: bool


def structured_method() -> str:
    """The method from MODELDEPLOY_LLM_METHOD (default function_calling)."""
    method = os.environ.get("MODELDEPLOY_LLM_METHOD") or "function_calling"
    if method not in METHODS:
        raise ValueError(f"MODELDEPLOY_LLM_METHOD must be one of {', '.join(METHODS)}, not {method!r}")
    return method


def structured_runnable(llm: Any, schema: type[BaseModel]) -> Any:
    """`llm` bound to the template, answering {raw, parsed, parsing_error}."""
    if "method" not in inspect.signature(llm.with_structured_output).parameters:
        return llm.with_structured_output(schema, include_raw=True)  # a generic chat model: tool calling
    if structured_method() == "json_schema":
        # A dict, not the class: the answer comes back as a dict and the template validates it below.
        spec = {"name": schema.__name__, "description": (schema.__doc__ or "").strip(), "schema": schema.model_json_schema()}
        return llm.with_structured_output(spec, method="json_schema", include_raw=True)
    return llm.with_structured_output(schema, method="function_calling", include_raw=True)


def _redacted(llm: Any, text: str) -> str:
    """`text` without the API key: some providers quote the key they refused, and errors go into the state."""
    secret = getattr(llm, "openai_api_key", None)  # ChatOpenAI's SecretStr
    for key in {os.environ.get("OPENAI_API_KEY"), getattr(secret, "get_secret_value", lambda: None)()}:
        if key and len(key) >= 8:
            text = text.replace(key, "***")
    return text


async def ask_structured(llm: Any, schema: type[BaseModel], messages: list[tuple[str, str]]) -> StructuredAnswer:
    """One call; a transport or parsing failure is an answer with `error`, never an exception."""
    prompt_size = estimate_tokens("".join(text for _, text in messages))
    try:
        if isinstance(llm, OpenAIEndpoint):
            llm = await asyncio.to_thread(llm.build)
        result = await structured_runnable(llm, schema).ainvoke(messages)
    except Exception as exc:  # provider errors come in many types; the caller falls back to rules
        why = _redacted(llm, f"{exc.__class__.__name__}: {exc}")
        return StructuredAnswer(None, f"LLM call failed: {why[:200]}", prompt_size, 0, True)
    raw, parsed, error = result.get("raw"), result.get("parsed"), result.get("parsing_error")
    if isinstance(parsed, dict):
        try:
            parsed = schema.model_validate(parsed)
        except ValidationError as exc:
            parsed, error = None, exc
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

"""Build the chat model the two LLM nodes use, or None when no LLM is configured.

Any OpenAI-compatible endpoint works through langchain-openai: set
``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` and ``MODELDEPLOY_LLM_MODEL`` (or the
Context fields). The API key is read from the environment only, never stored
in state, checkpoints or the database.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class OpenAIEndpoint:
    """An OpenAI-compatible endpoint; `ask_structured` builds its ChatOpenAI in a worker thread.

    The nodes call `make_chat_model` on the event loop, and building a ChatOpenAI there
    would block it: importing langchain-openai/openai takes about a second and reads
    package metadata (blockbuster, which `langgraph dev` enforces, refuses that), and
    the first one creates the HTTP clients. The key is not kept here either.
    """

    model_name: str
    base_url: str | None
    timeout_s: float = 60.0

    def build(self) -> Any:
        """The ChatOpenAI (blocking: call it in a thread)."""
        from langchain_openai import ChatOpenAI

        # stream_usage: a streamed call (LangGraph stream_mode="messages") asks for the usage chunk too;
        # ChatOpenAI does that by default only for api.openai.com, and without it the tokens are estimates.
        return ChatOpenAI(model=self.model_name, base_url=self.base_url,
                          api_key=os.environ.get("OPENAI_API_KEY") or "not-needed", temperature=0,
                          timeout=self.timeout_s, max_retries=1, stream_usage=True)


def make_chat_model(model: str | None, base_url: str | None, timeout_s: float = 60.0) -> OpenAIEndpoint | None:
    """The endpoint serving `model` at `base_url`, or None when there is no model or no endpoint/key."""
    if not model:
        return None
    base_url = base_url or os.environ.get("OPENAI_BASE_URL")
    if not base_url and not os.environ.get("OPENAI_API_KEY"):
        return None
    return OpenAIEndpoint(model, base_url, timeout_s)

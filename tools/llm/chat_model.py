"""Build the chat model the two LLM nodes use, or None when no LLM is configured.

Any OpenAI-compatible endpoint works through langchain-openai: set
``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` and ``MODELDEPLOY_LLM_MODEL`` (or the
Context fields). The API key is read from the environment only, never stored
in state, checkpoints or the database.
"""

from __future__ import annotations

import os
from typing import Any


def make_chat_model(model: str | None, base_url: str | None, timeout_s: float = 60.0) -> Any | None:
    """A ChatOpenAI for `model` at `base_url`, or None when there is no model or no endpoint/key."""
    if not model:
        return None
    base_url = base_url or os.environ.get("OPENAI_BASE_URL")
    api_key = os.environ.get("OPENAI_API_KEY")
    if not base_url and not api_key:
        return None
    from langchain_openai import ChatOpenAI  # imported lazily: it costs ~0.5 s and is not needed without an LLM

    return ChatOpenAI(model=model, base_url=base_url, api_key=api_key or "not-needed", temperature=0,
                      timeout=timeout_s, max_retries=1)

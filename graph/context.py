"""Run settings, read by nodes through the LangGraph Runtime (not part of the checkpointed state)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


@dataclass(kw_only=True)
class Context:
    """Settings of one run. Every field has a default taken from the environment."""

    llm_model: str | None = field(
        default_factory=lambda: _env("MODELDEPLOY_LLM_MODEL"),
        metadata={"description": "Model name on the OpenAI-compatible endpoint; empty means the rules decide."},
    )
    llm_base_url: str | None = field(
        default_factory=lambda: _env("OPENAI_BASE_URL"),
        metadata={"description": "OpenAI-compatible base URL (the key comes from OPENAI_API_KEY, never from here)."},
    )
    token_budget: int = field(
        default_factory=lambda: int(_env("MODELDEPLOY_TOKEN_BUDGET", "20000")),
        metadata={"description": "LLM tokens a run may spend; past it the rules decide."},
    )
    database_url: str | None = field(
        default_factory=lambda: _env("MODELDEPLOY_DATABASE_URL"),
        metadata={"description": "SQLAlchemy URL of the experience library (default: SQLite under MODELDEPLOY_HOME)."},
    )
    out_dir: str | None = field(default=None, metadata={"description": "Write manifests here; none means keep them in state only."})
    weights_dir: str | None = field(
        default_factory=lambda: _env("MODELDEPLOY_WEIGHTS_DIR"),
        metadata={"description": "Where downloaded weights go (its free disk is probed)."},
    )
    startup_timeout_s: float | None = field(default=None, metadata={"description": "Override the start-up timeout (default grows with weight size)."})
    poll_interval_s: float = field(default=0.5, metadata={"description": "How often wait_ready polls the server."})
    gateway_config: str | None = field(
        default_factory=lambda: _env("MODELDEPLOY_GATEWAY_CONFIG"),
        metadata={"description": "LiteLLM proxy config to upsert endpoints into (default: $MODELDEPLOY_HOME/litellm_config.yaml)."},
    )
    max_attempts: int = field(default=3, metadata={"description": "Server starts per deployment before giving up."})
    probe_engine: bool = field(default=True, metadata={"description": "Ask the Docker engine for its facts."})
    use_experience: bool = field(default=True, metadata={"description": "Retrieve lessons and verified recipes."})
    chat_model: Any = field(
        default=None,
        metadata={"description": "A LangChain chat model object to use instead of llm_model (embedding, tests)."},
    )
    nvml: Any = field(default=None, metadata={"description": "An NVML module stand-in (recorded snapshots in tests)."})

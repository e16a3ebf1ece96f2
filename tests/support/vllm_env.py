"""The real vLLM CPU environment the slow tests serve models from (scripts/ci/vllm_cpu_env.sh makes it).

Tests that need it FAIL without it (they do not skip): CI must exercise the real server.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ENV_VAR = "MODELDEPLOY_TEST_VLLM_ENV"


def vllm_env() -> Path:
    """The environment's directory (its bin/python runs vLLM and transformers serve)."""
    value = os.environ.get(ENV_VAR)
    if not value:
        pytest.fail(f"{ENV_VAR} is not set: this test needs the real vLLM CPU environment. Make it with "
                    f"`scripts/ci/vllm_cpu_env.sh` (prints its path; .ci/run runs it) and export "
                    f"{ENV_VAR}=<that path>.", pytrace=False)
    env = Path(value)
    if not (env / "bin" / "python").exists():
        pytest.fail(f"{ENV_VAR}={value} has no bin/python: run `scripts/ci/vllm_cpu_env.sh` to (re)make it.",
                    pytrace=False)
    return env

"""The process runtime's servers do not inherit the orchestrator's LLM provider keys."""

from __future__ import annotations

import json
import sys
import time

from modeldeploy.tools.runtimes.process_runtime import ProcessRuntime

PRINT_ENV = "import json, os; print(json.dumps({k: v for k, v in os.environ.items() if k.endswith('_API_KEY') " \
            "or k.startswith('MODELDEPLOY_DEPLOYMENT')}), flush=True)"


def test_server_env_has_no_provider_keys_but_keeps_what_the_spec_gives(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELDEPLOY_HOME", str(tmp_path))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-orchestrator-secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-other-secret")
    rt = ProcessRuntime()
    name = "md-env-check"
    rt.start({"name": name, "argv": [sys.executable, "-c", PRINT_ENV], "env": {"VLLM_API_KEY": "given-by-spec"}})
    try:
        deadline = time.monotonic() + 30
        while not (text := rt.logs(name, None)).strip() and time.monotonic() < deadline:
            time.sleep(0.05)
        seen = json.loads(text.strip().splitlines()[-1])
    finally:
        rt.remove(name)
    assert seen == {"VLLM_API_KEY": "given-by-spec", "MODELDEPLOY_DEPLOYMENT": name}

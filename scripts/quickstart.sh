#!/usr/bin/env bash
# Fresh machine to a live endpoint: create .venv, install modeldeploy, install the vLLM CPU build
# into its own cached environment, and deploy the bundled tiny model with a real vLLM server
# (process runtime, SQLite under ~/.modeldeploy, no GPU, no LLM needed). Then it shows the endpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e .
.venv/bin/modeldeploy probe
vllm_env="$(scripts/ci/vllm_cpu_env.sh)"
.venv/bin/modeldeploy deploy models/tiny-llama --runtime process --python-env "$vllm_env" --yes
.venv/bin/modeldeploy ps
echo "stop it with: .venv/bin/modeldeploy down <name>"

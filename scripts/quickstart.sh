#!/usr/bin/env bash
# Fresh machine to a first plan: create .venv, install modeldeploy, probe this machine,
# and plan the bundled tiny model on it (SQLite under ~/.modeldeploy, no LLM needed).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e .
.venv/bin/modeldeploy probe
.venv/bin/modeldeploy plan models/tiny-llama --out out/tiny-llama

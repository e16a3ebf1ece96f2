"""Startup failures as real subprocesses: the real frameworks' text, a few normal startup lines first,
exit code 1 (2 for argument errors), and the root cause near the end of the log where `docker logs
--tail 80` (wait_ready's LOG_TAIL_LINES) still shows it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from gguf_factory import write_tiny_gguf

from virtual_gpus import T4, L4, A4000, A100X4

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "tests" / "fixtures" / "models"
TINY = ROOT / "models" / "tiny-llama"

FIRST_LINE = {"vllm": "vLLM API server version 0.11.0", "sglang": "server_args=ServerArgs(",
              "tgi": "text_generation_launcher: Args {", "llama.cpp": "main: loading model"}
TAIL_LINES = 80


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def simulate(args: list[str], gpu: dict | None = None, env: dict | None = None, timeout: float = 30):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MODELDEPLOY_SIM_")}
    full_env.update({"MODELDEPLOY_SIM_STARTUP_S": "0", **(env or {})})
    if gpu is not None:
        full_env["MODELDEPLOY_SIM_GPU"] = json.dumps(gpu)
    cmd = [sys.executable, "-m", "modeldeploy.simulator", *args]
    if "--port" not in args:
        cmd += ["--port", str(free_port())]
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout)


def m(name: str) -> str:
    return str(MODELS / name)



def check(proc: subprocess.CompletedProcess, framework: str, fragments: list[str]) -> str:
    log = proc.stdout + proc.stderr
    assert proc.returncode == 1, log[-3000:]
    assert FIRST_LINE[framework] in proc.stdout + proc.stderr
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-TAIL_LINES:])
    for fragment in fragments:
        assert fragment in log, (fragment, log[-3000:])
        assert fragment in proc.stderr or fragment in proc.stdout
    assert fragments[0] in tail, "root cause scrolled out of the last 80 lines"
    return log


def test_gemma2_bf16_on_a_t4():
    proc = simulate(["--model", m("gemma-2-9b-it"), "--dtype", "bfloat16"], T4)
    log = check(proc, "vllm", ["Bfloat16 is only supported on GPUs with compute capability of at least 8.0. Your Tesla "
                               "T4 GPU has compute capability 7.5.",
                               "RuntimeError: Engine core initialization failed. See root cause above."])
    # a few normal lines come first, like the real server's
    assert log.index("Resolved architecture: Gemma2ForCausalLM") < log.index("EngineCore failed to start.")
    assert "Traceback (most recent call last):" in proc.stderr


def test_llama70b_tensor_parallel_3():
    proc = simulate(["--model", m("llama-3.1-70b-instruct"), "--tensor-parallel-size", "3"], A100X4)
    check(proc, "vllm", ["ValueError: Total number of attention heads (64) must be divisible by tensor parallel size (3)."])


def test_max_model_len_above_the_config():
    proc = simulate(["--model", m("llama-3.1-8b-instruct"), "--max-model-len", "200000"], L4)
    check(proc, "vllm", ["User-specified max_model_len (200000) is greater than the derived max_model_len "
                         "(max_position_embeddings=131072 or model_max_length=None in model's config.json)",
                         "pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig"])


def test_qwen7b_long_context_on_a_16gb_gpu(qwen_yarn):
    """Qwen2.5-7B at 131072 tokens (YaRN, as its model card says) on a 16 GB T4: the AWQ weights fit and the KV
    cache falls short (row 2); the bf16 weights leave nothing for the cache at all (row 3)."""
    proc = simulate(["--model", qwen_yarn("qwen2.5-7b-instruct-awq"), "--max-model-len", "131072"], T4)
    log = check(proc, "vllm", ["ValueError: The model's max seq len (131072) is larger than the maximum number of "
                               "tokens that can be stored in KV cache ("])
    assert "Loading safetensors checkpoint shards: 100% Completed" in log and "Model loading took" in log
    proc = simulate(["--model", qwen_yarn("qwen2.5-7b-instruct"), "--max-model-len", "131072"], A4000)
    check(proc, "vllm", ["ValueError: No available memory for the cache blocks."])


@pytest.mark.parametrize("args,gpu,env,fragment", [
    (["--model", m("llama-3.1-70b-instruct"), "--dtype", "half"], T4, {},
     "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate"),
    (["--model", m("internlm2_5-7b-chat")], L4, {},
     "requires you to execute the configuration file in that repo on your local machine"),
    (["--model", m("llama-3.1-8b-instruct"), "--max-model-len", "8192"], L4, {"MODELDEPLOY_SIM_IMAGE_CUDA": "12.8"},
     "The NVIDIA driver on your system is too old (found version 12020)"),
    (["--model", m("llama-3.1-70b-instruct"), "--tensor-parallel-size", "4"], A100X4,
     {"MODELDEPLOY_SIM_SHM_BYTES": str(64 << 20)}, "unhandled system error (run with NCCL_DEBUG=INFO for details)"),
    (["--model", m("llama-3.1-8b-instruct-fp8"), "--dtype", "half", "--max-model-len", "4096"], T4, {},
     "The quantization method fp8 is not supported for the current GPU. Minimum capability: 89. Current capability: 75."),
    (["--model", m("llama-3.1-8b-instruct"), "--tensor-parallel-size", "2"], L4, {},
     "please set tensor_parallel_size (2) to less than max local gpu count (1)"),
    (["--model", "/nonexistent/model"], None, {}, "Invalid repository ID or local directory specified"),
], ids=["oom-70b-on-t4", "trust-remote-code", "driver-too-old", "nccl-shm", "fp8-on-t4", "tp-above-gpu-count",
        "missing-model"])
def test_vllm_failures(args, gpu, env, fragment):
    check(simulate(args, gpu, env), "vllm", [fragment])


def test_tp2_follows_the_real_dev_shm_size():
    """Without the override the simulator measures /dev/shm (os.statvfs): NCCL fails below 1 GiB, as in Docker's
    default 64 MiB, and comes up above it."""
    st = os.statvfs("/dev/shm")
    small = st.f_frsize * st.f_blocks < 1 << 30
    t4x2 = {**T4, "count": 2}
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELDEPLOY_SIM_")}
    env.update({"MODELDEPLOY_SIM_STARTUP_S": "0", "MODELDEPLOY_SIM_GPU": json.dumps(t4x2)})
    proc = subprocess.Popen([sys.executable, "-m", "modeldeploy.simulator", "--model", m("llama-3.1-8b-instruct"),
                             "--dtype", "half", "--tensor-parallel-size", "2", "--max-model-len", "8192",
                             "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "Application startup complete." in line or "unhandled system error" in line:
                break
        log = "".join(seen)
        if small:
            assert "unhandled system error" in log and proc.wait(10) == 1
        else:
            assert "Application startup complete." in log
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_unsupported_architecture(tmp_path):
    cfg = json.loads((TINY / "config.json").read_text())
    cfg["architectures"] = ["FrobnicatorForCausalLM"]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    check(simulate(["--model", str(tmp_path)], L4), "vllm",
          ["Model architectures ['FrobnicatorForCausalLM'] are not supported for now."])


def test_truncated_safetensors(tmp_path):
    for f in TINY.iterdir():
        shutil.copy(f, tmp_path / f.name)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4096])
    log = check(simulate(["--model", str(tmp_path)]), "vllm",
                ["safetensors_rust.SafetensorError: Error while deserializing header: MetadataIncompleteBuffer"])
    assert "Loading safetensors checkpoint shards:   0% Completed | 0/1" in log


def test_tgi_shard_count():
    proc = simulate(["--model-id", m("llama-3.1-70b-instruct"), "--num-shard", "3"], A100X4)
    check(proc, "tgi", ["`num_heads` must be divisible by `num_shards` (got `num_heads`: 64 and `num_shards`: 3",
                        "Shard 0 failed to start", "Error: ShardCannotStart"])


@pytest.mark.parametrize("args,gpu,fragment", [
    (["--model-path", m("llama-3.1-8b-instruct"), "--mem-fraction-static", "0.75"], L4,
     "RuntimeError: Not enough memory. Please try to increase --mem-fraction-static."),
    (["--model-path", m("llama-3.1-8b-instruct")], T4, "no kernel image is available for execution on the device"),
    (["--model-path", m("llama-3.1-8b-instruct"), "--context-length", "200000"], L4,
     "User-specified context_length (200000) is greater than the derived context_length (131072)"),
], ids=["mem-fraction", "t4", "context"])
def test_sglang_failures(args, gpu, fragment):
    check(simulate(args, gpu), "sglang", [fragment])


def test_llama_cpp_failures(tmp_path):
    weird = write_tiny_gguf(tmp_path / "weird.gguf", arch="frobnicator")
    check(simulate(["-m", str(weird)]), "llama.cpp",
          ["llama_model_load: error loading model: error loading model architecture: unknown model architecture: "
           "'frobnicator'", "main: exiting due to model loading error"])
    big = write_tiny_gguf(tmp_path / "big.gguf")
    with open(big, "r+b") as fh:
        fh.truncate(20 << 30)  # sparse: a "20 GiB" checkpoint
    check(simulate(["-m", str(big), "-ngl", "99"], T4), "llama.cpp", ["cudaMalloc failed: out of memory"])


def test_port_already_in_use():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = simulate(["--model", str(TINY), "--host", "127.0.0.1", "--port", str(port)])
    check(proc, "vllm", [f"[Errno 98] error while attempting to bind on address ('127.0.0.1', {port}): "
                         "address already in use"])


@pytest.mark.parametrize("number,fragment", [
    (1, "CUDA out of memory"), (3, "No available memory for the cache blocks"), (9, "NVIDIA driver on your system is too old"),
    (17, "GatedRepoError: 401"), (18, "Engine core initialization failed. See root cause above"),
    (26, "SafetensorError: Error while deserializing header"),
])
def test_forced_failures(number, fragment):
    proc = simulate(["--model", str(TINY)], env={"MODELDEPLOY_SIM_FAIL": str(number)})
    check(proc, "vllm", [fragment])


def test_forced_hang_never_gets_ready_and_stops_on_sigterm():
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELDEPLOY_SIM_")}
    env.update({"MODELDEPLOY_SIM_FAIL": "24", "MODELDEPLOY_SIM_STARTUP_S": "0.2"})
    proc = subprocess.Popen([sys.executable, "-m", "modeldeploy.simulator", "--model", str(TINY), "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            if "Loading safetensors checkpoint shards:   0% Completed" in line:
                break
        # the socket is bound before loading starts
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).status_code == 503
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("args,env,code,fragment", [
    (["--model", str(TINY), "--frobnicate"], {"MODELDEPLOY_SIM_STRICT_ARGS": "1"}, 2, "unrecognized arguments: --frobnicate"),
    (["--model", str(TINY), "--dtype", "fp64"], {}, 2, "argument --dtype: invalid choice: 'fp64'"),
    (["--model", str(TINY)], {"MODELDEPLOY_SIM_GPU": "{oops"}, 2, "MODELDEPLOY_SIM_GPU is not JSON"),
], ids=["strict-unknown", "bad-dtype", "bad-gpu-json"])
def test_argument_errors_exit_2(args, env, code, fragment):
    proc = simulate(args, env=env)
    assert proc.returncode == code and fragment in proc.stderr

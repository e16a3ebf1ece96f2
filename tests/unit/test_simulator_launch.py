"""Launch flags of the real frameworks and the MODELDEPLOY_SIM_* knobs, as the simulator reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modeldeploy.simulator.knobs import KnobError, knobs_from_env, parse_gpu
from modeldeploy.simulator.launch import ArgError, detect_framework, parse_launch

ROOT = Path(__file__).resolve().parents[2]
MACHINES = ROOT / "tests" / "fixtures" / "machines"


def test_vllm_flags():
    launch = parse_launch(["--model", "/m", "--served-model-name", "a", "b", "--host", "0.0.0.0", "--port", "8123",
                           "--dtype", "half", "--max-model-len", "32k", "--tensor-parallel-size", "2",
                           "--gpu-memory-utilization", "0.85", "--quantization", "awq", "--kv-cache-dtype", "fp8",
                           "--max-num-seqs", "64", "--trust-remote-code", "--enforce-eager"], env={})
    assert launch.framework == "vllm"
    assert (launch.model, launch.served_model_names, launch.port) == ("/m", ["a", "b"], 8123)
    assert (launch.dtype, launch.max_model_len, launch.tensor_parallel_size) == ("half", 32000, 2)
    assert (launch.memory_utilization, launch.quantization, launch.kv_cache_dtype) == (0.85, "awq", "fp8")
    assert (launch.max_num_seqs, launch.trust_remote_code, launch.enforce_eager) == (64, True, True)
    assert launch.unknown == []
    assert launch.non_default["tensor_parallel_size"] == 2


def test_vllm_defaults_and_equals_form():
    launch = parse_launch(["--model=/m", "--max-model-len=4K", "-tp=4"], env={})
    assert (launch.served_name, launch.host, launch.port, launch.max_model_len, launch.tensor_parallel_size) == \
        ("/m", "0.0.0.0", 8000, 4096, 4)
    assert launch.memory_utilization == 0.9 and launch.dtype == "auto"


def test_vllm_serve_launcher_with_positional_model():
    launch = parse_launch(["vllm", "serve", "/models/x", "--port", "9000"], env={})
    assert (launch.framework, launch.model, launch.port, launch.launcher) == ("vllm", "/models/x", 9000, "vllm serve")


def test_sglang_flags_and_launcher():
    launch = parse_launch(["python3", "-m", "sglang.launch_server", "--model-path", "/m", "--context-length", "8192",
                           "--tp-size", "2", "--mem-fraction-static", "0.8", "--max-running-requests", "32",
                           "--served-model-name", "s", "--port", "30001", "--enable-metrics"], env={})
    assert launch.framework == "sglang"
    assert (launch.model, launch.max_model_len, launch.tensor_parallel_size) == ("/m", 8192, 2)
    assert (launch.memory_utilization, launch.max_num_seqs, launch.served_name) == (0.8, 32, "s")
    assert launch.host == "127.0.0.1" and launch.metrics_enabled


def test_tgi_flags_and_port_env():
    launch = parse_launch(["--model-id", "/data/m", "--max-total-tokens", "4096", "--num-shard", "2", "--hostname",
                           "0.0.0.0", "--dtype", "bfloat16", "--quantize", "awq"], env={"PORT": "80"})
    assert launch.framework == "tgi"
    assert (launch.model, launch.max_model_len, launch.tensor_parallel_size, launch.port) == ("/data/m", 4096, 2, 80)
    assert (launch.dtype, launch.quantization) == ("bfloat16", "awq")
    assert parse_launch(["text-generation-launcher", "--model-id", "/m"], env={}).port == 3000


def test_llama_cpp_flags():
    launch = parse_launch(["-m", "/m/x.gguf", "--alias", "x", "-c", "8192", "-ngl", "99", "--parallel", "8",
                           "--host", "0.0.0.0", "--port", "8081", "--metrics", "--jinja"], env={})
    assert launch.framework == "llama.cpp"
    assert (launch.model, launch.served_name, launch.max_model_len, launch.gpu_layers) == ("/m/x.gguf", "x", 8192, 99)
    assert (launch.max_num_seqs, launch.metrics_enabled, launch.port) == (8, True, 8081)
    assert parse_launch(["llama-server", "-m", "/x.gguf", "-ngl", "all"], env={}).gpu_layers == -1
    defaults = parse_launch(["-m", "/x.gguf"], env={"LLAMA_ARG_HOST": "0.0.0.0"})
    assert (defaults.host, defaults.port, defaults.max_model_len, defaults.metrics_enabled) == ("0.0.0.0", 8080, 4096, False)


def test_transformers_serve_flags():
    launch = parse_launch(["transformers", "serve", "--force-model", "/m", "--port", "8001", "--continuous-batching"], env={})
    assert (launch.framework, launch.model, launch.port) == ("transformers", "/m", 8001)


@pytest.mark.parametrize("argv,framework", [
    (["--model", "/m"], "vllm"),
    (["--model-path", "/m"], "sglang"),
    (["--model-id", "/m"], "tgi"),
    (["-m", "/m.gguf", "-ngl", "10"], "llama.cpp"),
    (["--force-model", "/m"], "transformers"),
    ([], "vllm"),
], ids=["vllm", "sglang", "tgi", "llama.cpp", "transformers", "nothing"])
def test_framework_detection(argv, framework):
    assert detect_framework(argv) == framework


def test_env_framework_wins_over_the_flags():
    knobs = knobs_from_env({"MODELDEPLOY_SIM_FRAMEWORK": "SGLang"})
    launch = parse_launch(["--model-path", "/m"], env={}, framework=knobs.framework)
    assert launch.framework == "sglang"


def test_unknown_flags_are_kept_for_the_warning_or_refused_when_strict():
    launch = parse_launch(["--model", "/m", "--frobnicate", "3", "--enable-prefix-caching"], env={})
    assert launch.unknown == ["--frobnicate", "3"]
    with pytest.raises(ArgError) as info:
        parse_launch(["--model", "/m", "--frobnicate", "3"], env={}, strict=True)
    assert info.value.exit_code == 2 and "unrecognized arguments: --frobnicate 3" in info.value.message


@pytest.mark.parametrize("argv,fragment", [
    (["--model", "/m", "--dtype", "fp64"], "argument --dtype: invalid choice: 'fp64'"),
    (["--model", "/m", "--port", "eighty"], "argument --port: invalid int value: 'eighty'"),
    (["--tp-size", "2"], "the following arguments are required: --model-path"),
], ids=["bad-choice", "bad-int", "missing-required"])
def test_argparse_errors_read_like_the_real_ones(argv, fragment):
    with pytest.raises(ArgError) as info:
        parse_launch(argv, env={})
    assert fragment in info.value.message and info.value.message.startswith("usage: ")


def test_knob_defaults_and_values():
    knobs = knobs_from_env({})
    assert (knobs.ttft_s, knobs.tpot_s, knobs.slots, knobs.startup_s, knobs.gpu, knobs.fail) == (0.05, 0.01, None, 1.0, None, None)
    knobs = knobs_from_env({"MODELDEPLOY_SIM_TTFT_MS": "200", "MODELDEPLOY_SIM_TPOT_MS": "5",
                            "MODELDEPLOY_SIM_SLOTS": "4", "MODELDEPLOY_SIM_STARTUP_S": "0",
                            "MODELDEPLOY_SIM_FAIL": "15", "MODELDEPLOY_SIM_IMAGE_CUDA": "12.8",
                            "MODELDEPLOY_SIM_GPU": "none"})
    assert (knobs.ttft_s, knobs.tpot_s, knobs.slots, knobs.startup_s, knobs.fail, knobs.image_cuda, knobs.gpu) == \
        (0.2, 0.005, 4, 0.0, 15, "12.8", None)


@pytest.mark.parametrize("env", [
    {"MODELDEPLOY_SIM_TTFT_MS": "fast"}, {"MODELDEPLOY_SIM_SLOTS": "0"}, {"MODELDEPLOY_SIM_GPU": "{not json"},
    {"MODELDEPLOY_SIM_GPU": '{"name": "x"}'}, {"MODELDEPLOY_SIM_FRAMEWORK": "triton"}, {"MODELDEPLOY_SIM_TPOT_MS": "-1"},
    {"MODELDEPLOY_SIM_FAIL": "27"},
], ids=["ttft-word", "zero-slots", "gpu-not-json", "gpu-no-memory", "unknown-framework", "negative", "no-such-row"])
def test_bad_knobs_are_refused(env):
    with pytest.raises(KnobError):
        knobs_from_env(env)


def test_gpu_json_forms():
    gpu = parse_gpu('{"name": "NVIDIA L4", "memory_total_mib": 23034, "compute_capability": "8.9", "count": 2, '
                    '"cuda_driver_version": "12.2"}')
    assert (gpu.name, gpu.memory_total_mib, gpu.compute_capability, gpu.count, gpu.cuda_driver_version) == \
        ("NVIDIA L4", 23034, (8, 9), 2, "12.2")
    assert gpu.cc_int == 89 and gpu.cc_text == "8.9"
    hardware = json.loads((MACHINES / "t4-x2.json").read_text())
    gpu = parse_gpu(json.dumps(hardware))
    assert (gpu.name, gpu.count, gpu.compute_capability, gpu.cuda_driver_version) == \
        ("Tesla T4", 2, (7, 5), hardware["cuda_driver_version"])
    assert parse_gpu(json.dumps(json.loads((MACHINES / "cpu-only.json").read_text()))) is None

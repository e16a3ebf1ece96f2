"""The real frameworks' launch flags: which framework an argv is for, and what it asks for.

The argv may start with the real launcher (`vllm serve MODEL`, `python3 -m
sglang.launch_server`, `text-generation-launcher`, `llama-server`, `transformers
serve`): the launcher is stripped and names the framework. Otherwise the framework
comes from MODELDEPLOY_SIM_FRAMEWORK, else from the flags (`--model-path` is
SGLang, `--model-id` TGI, `-m`/`-ngl` llama.cpp, `--force-model` transformers,
anything else vLLM).

Unknown flags are ignored with a warning (or, with MODELDEPLOY_SIM_STRICT_ARGS=1,
are an argparse error with exit code 2, as the real vLLM does).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from typing import Mapping, Sequence

DEFAULT_PORTS = {"vllm": 8000, "sglang": 30000, "tgi": 3000, "llama.cpp": 8080, "transformers": 8000}
PROGS = {"vllm": "vllm serve", "sglang": "launch_server.py", "tgi": "text-generation-launcher",
         "llama.cpp": "llama-server", "transformers": "transformers serve"}
DTYPES = ["auto", "half", "float16", "bfloat16", "float", "float32"]

# flags that only one framework has: used to tell them apart
_DISTINCT = {
    "sglang": {"--model-path", "--tp-size", "--tp", "--mem-fraction-static", "--context-length",
               "--max-running-requests", "--disable-cuda-graph", "--enable-metrics", "--chunked-prefill-size",
               "--disable-radix-cache", "--tokenizer-path", "--dp-size", "--random-seed", "--attention-backend"},
    "tgi": {"--model-id", "--num-shard", "--max-total-tokens", "--hostname", "--quantize", "--max-input-tokens",
            "--max-input-length", "--max-batch-prefill-tokens", "--max-concurrent-requests",
            "--cuda-memory-fraction", "--sharded", "--max-batch-total-tokens", "--disable-custom-kernels"},
    "llama.cpp": {"-m", "--alias", "-a", "-c", "--ctx-size", "-ngl", "--gpu-layers", "--n-gpu-layers", "--parallel",
                  "-np", "--metrics", "--jinja", "-fa", "--flash-attn", "-cb", "--cont-batching", "--no-mmap",
                  "--mlock", "-ctk", "-ctv", "--cache-type-k", "--cache-type-v", "-ub", "--ubatch-size", "-hf"},
    "transformers": {"--force-model", "--continuous-batching", "--log-level"},
    "vllm": {"--model", "--tensor-parallel-size", "-tp", "--gpu-memory-utilization", "--max-model-len",
             "--max-num-seqs", "--enforce-eager", "--served-model-name", "--max-num-batched-tokens",
             "--pipeline-parallel-size", "--enable-prefix-caching", "--disable-log-requests"},
}


class ArgError(Exception):
    """The command line is not valid for the framework: message as argparse prints it."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass
class Launch:
    framework: str
    model: str
    served_model_names: list[str]
    host: str
    port: int
    dtype: str = "auto"
    max_model_len: int | None = None
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    memory_utilization: float | None = None
    quantization: str | None = None
    kv_cache_dtype: str = "auto"
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    trust_remote_code: bool = False
    enforce_eager: bool = False
    gpu_layers: int | None = None
    metrics_enabled: bool = True
    api_key: str | None = None
    unknown: list[str] = field(default_factory=list)
    non_default: dict = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)
    launcher: str = ""

    @property
    def served_name(self) -> str:
        return self.served_model_names[0]

    @property
    def display_host(self) -> str:
        return self.host or "0.0.0.0"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # noqa: D401 - argparse API
        raise ArgError(f"{self.format_usage()}{self.prog}: error: {message}")


def human_int(text: str) -> int:
    """An int as vLLM reads it: `32768`, `32k` (x1000), `32K` (x1024), `1m`, `1M`."""
    raw = str(text).strip().replace("_", "")
    factors = {"k": 1000, "K": 1024, "m": 1000**2, "M": 1024**2, "g": 1000**3, "G": 1024**3}
    try:
        if raw and raw[-1] in factors:
            return int(float(raw[:-1]) * factors[raw[-1]])
        return int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: '{text}'") from None


def _bool_text(text: str) -> bool:
    return str(text).strip().lower() in ("1", "true", "yes", "on", "enabled")


def _strip_launcher(argv: list[str]) -> tuple[str | None, list[str], str]:
    """(framework hinted by the launcher, the remaining argv, the launcher text)."""
    args = list(argv)
    if len(args) >= 3 and os.path.basename(args[0]).startswith("python") and args[1] == "-m":
        module = args[2]
        rest = args[3:]
        if module.startswith("vllm"):
            return "vllm", rest, f"python3 -m {module}"
        if module.startswith("sglang"):
            return "sglang", rest, f"python3 -m {module}"
        if module in ("simulator", "modeldeploy.simulator"):
            return _strip_launcher(rest)
        return None, args, ""
    if not args:
        return None, args, ""
    head = os.path.basename(args[0])
    if head == "vllm" and len(args) >= 2 and args[1] == "serve":
        rest = args[2:]
        if rest and not rest[0].startswith("-"):
            rest = ["--model", rest[0]] + rest[1:]
        return "vllm", rest, "vllm serve"
    if head == "sglang" and len(args) >= 2 and args[1] == "serve":
        return "sglang", args[2:], "sglang serve"
    if head == "text-generation-launcher":
        return "tgi", args[1:], head
    if head == "llama-server":
        return "llama.cpp", args[1:], head
    if head == "transformers" and len(args) >= 2 and args[1] == "serve":
        rest = args[2:]
        if rest and not rest[0].startswith("-"):
            rest = ["--force-model", rest[0]] + rest[1:]
        return "transformers", rest, "transformers serve"
    return None, args, ""


def detect_framework(argv: Sequence[str], hint: str | None = None) -> str:
    """The framework an argv is meant for (without a launcher prefix)."""
    if hint:
        return hint
    flags = {a.split("=", 1)[0] for a in argv if a.startswith("-")}
    scores = {name: len(flags & distinct) for name, distinct in _DISTINCT.items()}
    best = max(scores.values())
    if best == 0:
        return "vllm"
    for name in ("transformers", "llama.cpp", "tgi", "sglang", "vllm"):
        if scores[name] == best:
            return name
    return "vllm"


def _vllm_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="vllm serve", allow_abbrev=False, add_help=False)
    p.add_argument("--model", default="facebook/opt-125m")
    p.add_argument("--served-model-name", nargs="+", default=None)
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--dtype", default="auto", choices=DTYPES)
    p.add_argument("--max-model-len", type=human_int, default=None)
    p.add_argument("--tensor-parallel-size", "-tp", type=int, default=1)
    p.add_argument("--pipeline-parallel-size", "-pp", type=int, default=1)
    p.add_argument("--data-parallel-size", "-dp", type=int, default=1)
    p.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    p.add_argument("--quantization", "-q", default=None)
    p.add_argument("--kv-cache-dtype", default="auto")
    p.add_argument("--max-num-seqs", type=int, default=None)
    p.add_argument("--max-num-batched-tokens", type=human_int, default=None)
    p.add_argument("--trust-remote-code", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--enforce-eager", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--api-key", default=None)
    for flag in ("--tokenizer", "--revision", "--tokenizer-revision", "--download-dir", "--load-format", "--seed",
                 "--block-size", "--swap-space", "--tool-call-parser", "--chat-template", "--generation-config",
                 "--uvicorn-log-level", "--max-logprobs", "--distributed-executor-backend", "--hf-overrides",
                 "--override-generation-config", "--root-path", "--reasoning-parser", "--device",
                 "--tokenizer-mode", "--config-format", "--response-role", "--limit-mm-per-prompt",
                 "--compilation-config", "-O", "--cpu-offload-gb", "--speculative-config", "--lora-modules",
                 "--max-seq-len-to-capture", "--rope-scaling", "--rope-theta", "--allowed-origins"):
        p.add_argument(flag, default=None)
    for flag in ("--enable-prefix-caching", "--enable-chunked-prefill", "--disable-log-stats",
                 "--enable-log-requests", "--disable-custom-all-reduce", "--enable-expert-parallel",
                 "--disable-sliding-window", "--enable-lora", "--async-scheduling"):
        p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
    for flag in ("--disable-log-requests", "--enable-auto-tool-choice", "--disable-frontend-multiprocessing",
                 "--enable-request-id-headers", "--disable-fastapi-docs", "--enable-prompt-tokens-details",
                 "--enable-force-include-usage", "--skip-tokenizer-init"):
        p.add_argument(flag, action="store_true", default=False)
    return p


def _sglang_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="launch_server.py", allow_abbrev=False, add_help=False)
    p.add_argument("--model-path", "--model", dest="model_path", required=True)
    p.add_argument("--tokenizer-path", default=None)
    p.add_argument("--served-model-name", default=None)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=30000)
    p.add_argument("--dtype", default="auto", choices=DTYPES)
    p.add_argument("--context-length", type=int, default=None)
    p.add_argument("--tp-size", "--tp", "--tensor-parallel-size", dest="tp_size", type=int, default=1)
    p.add_argument("--dp-size", "--dp", dest="dp_size", type=int, default=1)
    p.add_argument("--mem-fraction-static", type=float, default=None)
    p.add_argument("--quantization", default=None)
    p.add_argument("--kv-cache-dtype", default="auto")
    p.add_argument("--max-running-requests", type=int, default=None)
    p.add_argument("--max-total-tokens", type=int, default=None)
    p.add_argument("--chunked-prefill-size", type=int, default=None)
    p.add_argument("--api-key", default=None)
    for flag in ("--log-level", "--random-seed", "--attention-backend", "--chat-template", "--revision",
                 "--schedule-conservativeness", "--load-format", "--tool-call-parser", "--reasoning-parser",
                 "--schedule-policy", "--cuda-graph-max-bs", "--sampling-backend", "--grammar-backend",
                 "--download-dir", "--device"):
        p.add_argument(flag, default=None)
    for flag in ("--trust-remote-code", "--disable-cuda-graph", "--enable-metrics", "--disable-radix-cache",
                 "--skip-server-warmup", "--enable-torch-compile", "--log-requests", "--enable-mixed-chunk",
                 "--disable-overlap-schedule", "--enable-dp-attention", "--enable-cache-report"):
        p.add_argument(flag, action="store_true", default=False)
    return p


def _tgi_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    p = _Parser(prog="text-generation-launcher", allow_abbrev=False, add_help=False)
    p.add_argument("--model-id", default=env.get("MODEL_ID", "bigscience/bloom-560m"))
    p.add_argument("--revision", default=None)
    p.add_argument("--num-shard", type=int, default=int(env["NUM_SHARD"]) if env.get("NUM_SHARD", "").isdigit() else None)
    p.add_argument("--quantize", default=env.get("QUANTIZE"))
    p.add_argument("--dtype", default=None, choices=["float16", "bfloat16"])
    p.add_argument("--max-concurrent-requests", type=int, default=128)
    p.add_argument("--max-input-tokens", "--max-input-length", dest="max_input_tokens", type=int, default=None)
    p.add_argument("--max-total-tokens", type=int, default=None)
    p.add_argument("--max-batch-prefill-tokens", type=int, default=None)
    p.add_argument("--max-batch-total-tokens", type=int, default=None)
    p.add_argument("--hostname", default="0.0.0.0")
    p.add_argument("--port", "-p", type=int, default=int(env["PORT"]) if env.get("PORT", "").isdigit() else 3000)
    p.add_argument("--cuda-memory-fraction", type=float, default=1.0)
    p.add_argument("--kv-cache-dtype", default=None)
    for flag in ("--max-best-of", "--max-stop-sequences", "--max-top-n-tokens", "--waiting-served-ratio",
                 "--max-waiting-tokens", "--max-batch-size", "--cuda-graphs", "--huggingface-hub-cache",
                 "--weights-cache-override", "--otlp-endpoint", "--otlp-service-name", "--payload-limit",
                 "--max-client-batch-size", "--speculate", "--rope-scaling", "--rope-factor", "--tokenizer-config-path",
                 "--lora-adapters", "--usage-stats", "--master-addr", "--master-port", "--shard-uds-path",
                 "--prefix-caching", "--attention"):
        p.add_argument(flag, default=None)
    for flag in ("--trust-remote-code", "--sharded", "--disable-custom-kernels", "--json-output",
                 "--disable-grammar-support", "--enable-prefill-logprobs", "--disable-usage-stats"):
        p.add_argument(flag, action="store_true", default=False)
    return p


def _llamacpp_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    p = _Parser(prog="llama-server", allow_abbrev=False, add_help=False)
    p.add_argument("-m", "--model", default=env.get("LLAMA_ARG_MODEL"))
    p.add_argument("-a", "--alias", default=env.get("LLAMA_ARG_ALIAS"))
    p.add_argument("-c", "--ctx-size", type=int, default=int(env.get("LLAMA_ARG_CTX_SIZE") or 4096))
    p.add_argument("-ngl", "--gpu-layers", "--n-gpu-layers", dest="gpu_layers",
                   default=env.get("LLAMA_ARG_N_GPU_LAYERS"))
    p.add_argument("-np", "--parallel", type=int, default=int(env.get("LLAMA_ARG_N_PARALLEL") or 4))
    p.add_argument("--host", default=env.get("LLAMA_ARG_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(env.get("LLAMA_ARG_PORT") or 8080))
    p.add_argument("--metrics", action="store_true", default=_bool_text(env.get("LLAMA_ARG_ENDPOINT_METRICS", "")))
    p.add_argument("--jinja", action="store_true", default=False)
    p.add_argument("--api-key", default=env.get("LLAMA_API_KEY"))
    p.add_argument("-fa", "--flash-attn", nargs="?", const="on", default=None)
    p.add_argument("-ctk", "--cache-type-k", default="f16")
    p.add_argument("-ctv", "--cache-type-v", default="f16")
    for flag in (("-t", "--threads"), ("-b", "--batch-size"), ("-ub", "--ubatch-size"), ("-n", "--n-predict"),
                 ("--chat-template",), ("-hf", "--hf-repo"), ("--temp",), ("-sm", "--split-mode"),
                 ("-ts", "--tensor-split"), ("-dev", "--device"), ("--rope-scaling",), ("--rope-freq-base",),
                 ("-s", "--seed"), ("-to", "--timeout"), ("--threads-http",), ("--reasoning-format",),
                 ("-ot", "--override-tensor"), ("-lv", "--verbosity"), ("--chat-template-file",),
                 ("-mg", "--main-gpu"), ("--mmproj",), ("--cache-reuse",)):
        p.add_argument(*flag, default=None)
    for flag in (("-cb", "--cont-batching"), ("--no-mmap",), ("--mlock",), ("--no-webui",), ("--props",),
                 ("--slots",), ("--embedding", "--embeddings"), ("--log-disable",), ("-v", "--verbose"),
                 ("-kvu", "--kv-unified"), ("--swa-full",), ("--no-cont-batching",), ("-nocb",)):
        p.add_argument(*flag, action="store_true", default=False)
    return p


def _transformers_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="transformers serve", allow_abbrev=False, add_help=False)
    p.add_argument("model", nargs="?", default=None)           # transformers >= 5: the model is positional
    p.add_argument("--force-model", default=None)
    p.add_argument("--host", default="localhost")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--dtype", default="auto")
    p.add_argument("--trust-remote-code", action="store_true", default=False)
    p.add_argument("--continuous-batching", action="store_true", default=False)
    for flag in ("--device", "--attn-implementation", "--quantization", "--log-level", "--default-seed"):
        p.add_argument(flag, default=None)
    p.add_argument("--enable-cors", action="store_true", default=False)
    return p


def _non_default(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> dict:
    defaults = {a.dest: a.default for a in parser._actions}
    return {k: v for k, v in vars(ns).items() if k in defaults and v != defaults[k]}


def _gpu_layers(raw: str | None) -> int | None:
    if raw is None:
        return None
    text = str(raw).strip().lower()
    if text in ("all", "auto", "max"):
        return -1
    try:
        return int(text)
    except ValueError:
        raise ArgError(f"error: invalid argument: -ngl {raw}", exit_code=1) from None


def parse_launch(argv: Sequence[str], env: Mapping[str, str] | None = None, framework: str | None = None,
                 strict: bool = False) -> Launch:
    """The launch arguments of `argv` for `framework` (detected when None)."""
    env = os.environ if env is None else env
    hinted, rest, launcher = _strip_launcher(list(argv))
    name = framework or hinted or detect_framework(rest)
    if name == "vllm":
        parser = _vllm_parser()
    elif name == "sglang":
        parser = _sglang_parser()
    elif name == "tgi":
        parser = _tgi_parser(env)
    elif name == "llama.cpp":
        parser = _llamacpp_parser(env)
    else:
        parser = _transformers_parser()
    ns, unknown = parser.parse_known_args(rest)
    if unknown and strict:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    non_default = _non_default(parser, ns)
    launch = _build(name, ns, env)
    launch.unknown = list(unknown)
    launch.non_default = non_default
    launch.argv = list(argv)
    launch.launcher = launcher
    return launch


def _build(name: str, ns: argparse.Namespace, env: Mapping[str, str]) -> Launch:
    if name == "vllm":
        names = list(ns.served_model_name or [ns.model])
        return Launch(
            framework=name, model=ns.model, served_model_names=names, host=ns.host or "0.0.0.0", port=ns.port,
            dtype=ns.dtype, max_model_len=ns.max_model_len, tensor_parallel_size=ns.tensor_parallel_size,
            pipeline_parallel_size=ns.pipeline_parallel_size, memory_utilization=ns.gpu_memory_utilization,
            quantization=ns.quantization, kv_cache_dtype=ns.kv_cache_dtype, max_num_seqs=ns.max_num_seqs,
            max_num_batched_tokens=ns.max_num_batched_tokens, trust_remote_code=bool(ns.trust_remote_code),
            enforce_eager=bool(ns.enforce_eager), api_key=ns.api_key or env.get("VLLM_API_KEY") or None,
        )
    if name == "sglang":
        return Launch(
            framework=name, model=ns.model_path, served_model_names=[ns.served_model_name or ns.model_path],
            host=ns.host, port=ns.port, dtype=ns.dtype, max_model_len=ns.context_length,
            tensor_parallel_size=ns.tp_size, memory_utilization=ns.mem_fraction_static,
            quantization=ns.quantization, kv_cache_dtype=ns.kv_cache_dtype, max_num_seqs=ns.max_running_requests,
            max_num_batched_tokens=ns.chunked_prefill_size, trust_remote_code=ns.trust_remote_code,
            enforce_eager=ns.disable_cuda_graph, metrics_enabled=ns.enable_metrics, api_key=ns.api_key,
        )
    if name == "tgi":
        shards = ns.num_shard or (2 if ns.sharded else 1)
        launch = Launch(
            framework=name, model=ns.model_id, served_model_names=[ns.model_id], host=ns.hostname, port=ns.port,
            dtype=ns.dtype or "auto", max_model_len=ns.max_total_tokens, tensor_parallel_size=shards,
            memory_utilization=ns.cuda_memory_fraction, quantization=ns.quantize,
            kv_cache_dtype=ns.kv_cache_dtype or "auto", max_num_seqs=ns.max_concurrent_requests,
            max_num_batched_tokens=ns.max_batch_prefill_tokens, trust_remote_code=ns.trust_remote_code,
        )
        return launch
    if name == "llama.cpp":
        model = ns.model or "models/7B/ggml-model-f16.gguf"
        return Launch(
            framework=name, model=model, served_model_names=[ns.alias or model], host=ns.host, port=ns.port,
            max_model_len=ns.ctx_size, max_num_seqs=ns.parallel, gpu_layers=_gpu_layers(ns.gpu_layers),
            kv_cache_dtype=ns.cache_type_k, metrics_enabled=ns.metrics, api_key=ns.api_key,
        )
    model = ns.force_model or ns.model or ""
    return Launch(framework=name, model=model, served_model_names=[model], host=ns.host, port=ns.port,
                  dtype=ns.dtype, trust_remote_code=ns.trust_remote_code)

"""The frameworks' log lines: startup narrative, access log, tracebacks, shutdown.

Each framework's `Narrator` returns lists of `(stream, line)` pairs; the server
writes them (stdout for log lines, stderr for tracebacks and progress bars, as
the real servers do; `docker logs` shows both). Formats:

- vLLM 0.11:  `(APIServer pid=1) INFO 11-25 12:00:00 [api_server.py:1839] ...`, engine lines prefixed
  `(EngineCore_DP0 pid=N)`, uvicorn lines `INFO:     ...`;
- SGLang:     `[2025-11-25 12:00:00 TP0] ...`;
- TGI:        `2025-11-25T12:00:00.123456Z  INFO text_generation_launcher: ...`;
- llama.cpp:  bare `main: ...`, `srv  ...`, `llama_model_loader: ...` lines;
- transformers serve: uvicorn lines.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .checks import Assessment, Failure
    from .knobs import Knobs
    from .launch import Launch

OUT, ERR = "out", "err"
Lines = list[tuple[str, str]]

VERSIONS = {"vllm": "0.11.0", "sglang": "0.5.4", "tgi": "3.3.6", "llama.cpp": "b6000", "transformers": "5.0.0"}

_VLLM = "/usr/local/lib/python3.12/dist-packages/vllm"
_TORCH = "/usr/local/lib/python3.12/dist-packages/torch"
_TF = "/usr/local/lib/python3.12/dist-packages/transformers"
_SGL = "/sgl-workspace/sglang/python/sglang"
_TGI = "/usr/src/server/text_generation_server"


def _frames(text: str) -> list[tuple[str, str, str, str]]:
    out = []
    for row in text.strip().splitlines():
        if not row.strip():
            continue
        path, line, func, code = row.strip().split("|", 3)
        out.append((path, line, func, code))
    return out


_VLLM_API = f"""
/usr/local/bin/vllm|10|<module>|sys.exit(main())
{_VLLM}/entrypoints/cli/main.py|54|main|args.dispatch_function(args)
{_VLLM}/entrypoints/cli/serve.py|57|cmd|uvloop.run(run_server(args))
/usr/local/lib/python3.12/dist-packages/uvloop/__init__.py|109|run|return __asyncio.run(
/usr/lib/python3.12/asyncio/runners.py|195|run|return runner.run(main)
/usr/lib/python3.12/asyncio/runners.py|118|run|return self._loop.run_until_complete(task)
uvloop/loop.pyx|1518|uvloop.loop.Loop.run_until_complete|
/usr/local/lib/python3.12/dist-packages/uvloop/__init__.py|61|wrapper|return await main
{_VLLM}/entrypoints/openai/api_server.py|1884|run_server|await run_server_worker(listen_address, sock, args, **uvicorn_kwargs)
{_VLLM}/entrypoints/openai/api_server.py|1902|run_server_worker|async with build_async_engine_client(
/usr/lib/python3.12/contextlib.py|210|__aenter__|return await anext(self.gen)
{_VLLM}/entrypoints/openai/api_server.py|180|build_async_engine_client|async with build_async_engine_client_from_engine_args(
/usr/lib/python3.12/contextlib.py|210|__aenter__|return await anext(self.gen)
"""
_VLLM_CREATE_CONFIG = f"""
{_VLLM}/entrypoints/openai/api_server.py|206|build_async_engine_client_from_engine_args|vllm_config = engine_args.create_engine_config(usage_context=usage_context)
{_VLLM}/engine/arg_utils.py|1142|create_engine_config|model_config = self.create_model_config()
{_VLLM}/engine/arg_utils.py|994|create_model_config|return ModelConfig(
/usr/local/lib/python3.12/dist-packages/pydantic/_internal/_dataclasses.py|123|__init__|s.__pydantic_validator__.validate_python(ArgsKwargs(args, kwargs), self_instance=s)
"""
_VLLM_WRAPPER = f"""
{_VLLM}/entrypoints/openai/api_server.py|225|build_async_engine_client_from_engine_args|async_llm = AsyncLLM.from_vllm_config(
{_VLLM}/utils/__init__.py|1572|inner|return fn(*args, **kwargs)
{_VLLM}/v1/engine/async_llm.py|207|from_vllm_config|return cls(
{_VLLM}/v1/engine/async_llm.py|134|__init__|self.engine_core = EngineCoreClient.make_async_mp_client(
{_VLLM}/v1/engine/core_client.py|102|make_async_mp_client|return AsyncMPClient(*client_args)
{_VLLM}/v1/engine/core_client.py|769|__init__|super().__init__(
{_VLLM}/v1/engine/core_client.py|448|__init__|with launch_core_engines(vllm_config, executor_class,
/usr/lib/python3.12/contextlib.py|144|__exit__|next(self.gen)
{_VLLM}/v1/engine/utils.py|732|launch_core_engines|wait_for_engine_startup(
{_VLLM}/v1/engine/utils.py|785|wait_for_engine_startup|raise RuntimeError("Engine core initialization failed. "
"""
_VLLM_CORE = f"""
{_VLLM}/v1/engine/core.py|699|run_engine_core|engine_core = EngineCoreProc(*args, **kwargs)
{_VLLM}/v1/engine/core.py|498|__init__|super().__init__(vllm_config, executor_class, log_stats,
{_VLLM}/v1/engine/core.py|83|__init__|self.model_executor = executor_class(vllm_config)
{_VLLM}/executor/executor_base.py|54|__init__|self._init_executor()
"""
_VLLM_WORKER = f"""
{_VLLM}/executor/uniproc_executor.py|54|_init_executor|self.collective_rpc("init_device")
{_VLLM}/executor/uniproc_executor.py|83|collective_rpc|return [run_method(self.driver_worker, method, args, kwargs)]
{_VLLM}/utils/__init__.py|3122|run_method|return func(*args, **kwargs)
{_VLLM}/worker/worker_base.py|606|init_device|self.worker.init_device()  # type: ignore
"""
_VLLM_LOAD = f"""
{_VLLM}/executor/uniproc_executor.py|55|_init_executor|self.collective_rpc("load_model")
{_VLLM}/executor/uniproc_executor.py|83|collective_rpc|return [run_method(self.driver_worker, method, args, kwargs)]
{_VLLM}/utils/__init__.py|3122|run_method|return func(*args, **kwargs)
{_VLLM}/v1/worker/gpu_worker.py|213|load_model|self.model_runner.load_model(eep_scale_up=eep_scale_up)
{_VLLM}/v1/worker/gpu_model_runner.py|2634|load_model|self.model = model_loader.load_model(
{_VLLM}/model_executor/model_loader/base_loader.py|45|load_model|model = initialize_model(vllm_config=vllm_config,
"""

TRACEBACKS: dict[str, list[tuple[str, str, str, str]]] = {
    "vllm.api": _frames(_VLLM_API),
    "vllm.config": _frames(_VLLM_API + _VLLM_CREATE_CONFIG),
    "vllm.hf_config": _frames(_VLLM_API + f"""
{_VLLM}/entrypoints/openai/api_server.py|206|build_async_engine_client_from_engine_args|vllm_config = engine_args.create_engine_config(usage_context=usage_context)
{_VLLM}/engine/arg_utils.py|1142|create_engine_config|model_config = self.create_model_config()
{_VLLM}/engine/arg_utils.py|994|create_model_config|return ModelConfig(
{_VLLM}/config/model.py|535|__post_init__|hf_config = get_config(self.hf_config_path or self.model,
{_VLLM}/transformers_utils/config.py|614|get_config|raise RuntimeError(err_msg) from e
"""),
    "vllm.hf_config.cause": _frames(f"""
{_VLLM}/transformers_utils/config.py|582|get_config|config_dict, _ = PretrainedConfig.get_config_dict(
{_TF}/models/auto/configuration_auto.py|1246|from_pretrained|trust_remote_code = resolve_trust_remote_code(
{_TF}/dynamic_module_utils.py|734|resolve_trust_remote_code|raise ValueError(
"""),
    "vllm.parallel": _frames(_VLLM_API + f"""
{_VLLM}/entrypoints/openai/api_server.py|206|build_async_engine_client_from_engine_args|vllm_config = engine_args.create_engine_config(usage_context=usage_context)
{_VLLM}/engine/arg_utils.py|1439|create_engine_config|config = VllmConfig(
{_VLLM}/config/vllm.py|249|__post_init__|self.model_config.verify_with_parallel_config(self.parallel_config)
{_VLLM}/config/model.py|1207|verify_with_parallel_config|raise ValueError(
"""),
    "vllm.cuda_init": _frames(_VLLM_CORE + _VLLM_WORKER + f"""
{_VLLM}/v1/worker/gpu_worker.py|155|init_device|torch.cuda.set_device(self.device)
{_TORCH}/cuda/__init__.py|567|set_device|torch._C._cuda_setDevice(device)
{_TORCH}/cuda/__init__.py|372|_lazy_init|torch._C._cuda_init()
"""),
    "vllm.executor": _frames(_VLLM_CORE + f"""
{_VLLM}/v1/executor/multiproc_executor.py|60|_init_executor|self._check_cuda()
{_VLLM}/v1/executor/multiproc_executor.py|245|_check_cuda|raise RuntimeError(
"""),
    "vllm.dtype": _frames(_VLLM_CORE + _VLLM_WORKER + f"""
{_VLLM}/v1/worker/gpu_worker.py|170|init_device|_check_if_gpu_supports_dtype(self.model_config.dtype)
{_VLLM}/v1/worker/gpu_worker.py|740|_check_if_gpu_supports_dtype|raise ValueError(
"""),
    "vllm.attention": _frames(_VLLM_CORE + _VLLM_LOAD + f"""
{_VLLM}/attention/layer.py|181|__init__|self.attn_backend = get_attn_backend(head_size,
{_VLLM}/attention/backends/flash_attn.py|66|validate_head_size|raise ValueError(
"""),
    "vllm.nccl": _frames(_VLLM_CORE + f"""
{_VLLM}/v1/executor/multiproc_executor.py|540|worker_main|worker = WorkerProc(*args, **kwargs)
{_VLLM}/v1/executor/multiproc_executor.py|402|__init__|self.worker.init_device()
{_VLLM}/worker/worker_base.py|606|init_device|self.worker.init_device()  # type: ignore
{_VLLM}/v1/worker/gpu_worker.py|191|init_device|init_worker_distributed_environment(self.vllm_config,
{_VLLM}/v1/worker/gpu_worker.py|731|init_worker_distributed_environment|ensure_model_parallel_initialized(
{_VLLM}/distributed/parallel_state.py|1197|ensure_model_parallel_initialized|initialize_model_parallel(
{_VLLM}/distributed/parallel_state.py|1124|initialize_model_parallel|_TP = init_model_parallel_group(group_ranks,
{_VLLM}/distributed/parallel_state.py|876|init_model_parallel_group|return GroupCoordinator(
{_VLLM}/distributed/parallel_state.py|254|__init__|self.device_communicator = device_comm_cls(
{_VLLM}/distributed/device_communicators/cuda_communicator.py|55|__init__|self.pynccl_comm = PyNcclCommunicator(
{_VLLM}/distributed/device_communicators/pynccl.py|99|__init__|self.all_reduce(data)
{_TORCH}/distributed/c10d_logger.py|81|wrapper|return func(*args, **kwargs)
{_TORCH}/distributed/distributed_c10d.py|2806|all_reduce|work = group.allreduce([tensor], opts)
"""),
    "vllm.quant": _frames(_VLLM_CORE + _VLLM_LOAD + f"""
{_VLLM}/model_executor/model_loader/utils.py|55|initialize_model|vllm_config.quant_config = _get_quantization_config(
{_VLLM}/model_executor/model_loader/utils.py|142|_get_quantization_config|raise ValueError(
"""),
    "vllm.load": _frames(_VLLM_CORE + _VLLM_LOAD + f"""
{_VLLM}/model_executor/model_loader/utils.py|64|initialize_model|return model_class(vllm_config=vllm_config, prefix=prefix)
{_VLLM}/model_executor/models/llama.py|541|__init__|self.model = self._init_model(vllm_config=vllm_config,
{_VLLM}/model_executor/models/llama.py|362|__init__|self.start_layer, self.end_layer, self.layers = make_layers(
{_VLLM}/model_executor/models/utils.py|627|make_layers|[PPMissingLayer() for _ in range(start_layer)] + [
{_VLLM}/model_executor/models/llama.py|288|__init__|self.mlp = LlamaMLP(
{_VLLM}/model_executor/layers/linear.py|604|__init__|super().__init__(input_size=input_size,
{_VLLM}/model_executor/layers/linear.py|461|__init__|self.quant_method.create_weights(
{_VLLM}/model_executor/layers/linear.py|196|create_weights|weight = Parameter(torch.empty(sum(output_partition_sizes),
{_TORCH}/utils/_device.py|104|__torch_function__|return func(*args, **kwargs)
"""),
    "vllm.safetensors": _frames(_VLLM_CORE + _VLLM_LOAD + f"""
{_VLLM}/model_executor/model_loader/base_loader.py|50|load_model|self.load_weights(model, model_config)
{_VLLM}/model_executor/model_loader/default_loader.py|264|load_weights|loaded_weights = model.load_weights(
{_VLLM}/model_executor/models/llama.py|611|load_weights|return loader.load_weights(weights)
{_VLLM}/model_executor/model_loader/weight_utils.py|499|safetensors_weights_iterator|with safe_open(st_file, framework="pt") as f:
"""),
    "vllm.kv": _frames(f"""
{_VLLM}/v1/engine/core.py|699|run_engine_core|engine_core = EngineCoreProc(*args, **kwargs)
{_VLLM}/v1/engine/core.py|498|__init__|super().__init__(vllm_config, executor_class, log_stats,
{_VLLM}/v1/engine/core.py|92|__init__|self._initialize_kv_caches(vllm_config)
{_VLLM}/v1/engine/core.py|199|_initialize_kv_caches|kv_cache_configs = get_kv_cache_configs(vllm_config, kv_cache_specs,
{_VLLM}/v1/core/kv_cache_utils.py|1243|get_kv_cache_configs|check_enough_kv_cache_memory(vllm_config, kv_cache_spec_one_worker,
{_VLLM}/v1/core/kv_cache_utils.py|716|check_enough_kv_cache_memory|raise ValueError(
"""),
    "sglang.main": _frames(f"""
<frozen runpy>|198|_run_module_as_main|
<frozen runpy>|88|_run_code|
{_SGL}/launch_server.py|11|<module>|launch_server(server_args)
{_SGL}/srt/entrypoints/http_server.py|1066|launch_server|tokenizer_manager, template_manager, scheduler_info = _launch_subprocesses(
{_SGL}/srt/entrypoints/engine.py|781|_launch_subprocesses|tokenizer_manager = TokenizerManager(server_args, port_args)
{_SGL}/srt/managers/tokenizer_manager.py|191|__init__|self.model_config = ModelConfig.from_server_args(server_args)
{_SGL}/srt/configs/model_config.py|263|from_server_args|return ModelConfig(
"""),
    "sglang.scheduler": _frames(f"""
{_SGL}/srt/managers/scheduler.py|2440|run_scheduler_process|scheduler = Scheduler(
{_SGL}/srt/managers/scheduler.py|311|__init__|self.tp_worker = TpWorkerClass(
{_SGL}/srt/managers/tp_worker_overlap_thread.py|67|__init__|self.worker = TpModelWorker(
{_SGL}/srt/managers/tp_worker.py|81|__init__|self.model_runner = ModelRunner(
{_SGL}/srt/model_executor/model_runner.py|235|__init__|self.initialize(min_per_gpu_memory)
{_SGL}/srt/model_executor/model_runner.py|313|initialize|self.init_memory_pool(
"""),
    "tgi.shard": _frames(f"""
/usr/src/.venv/bin/text-generation-server|10|<module>|sys.exit(app())
{_TGI}/cli.py|119|serve|server.serve(
{_TGI}/server.py|315|serve|asyncio.run(
/root/.local/share/uv/python/cpython-3.11.11-linux-x86_64-gnu/lib/python3.11/asyncio/runners.py|190|run|return runner.run(main)
/root/.local/share/uv/python/cpython-3.11.11-linux-x86_64-gnu/lib/python3.11/asyncio/base_events.py|654|run_until_complete|return future.result()
{_TGI}/server.py|268|serve_inner|model = get_model_with_lora_adapters(
{_TGI}/models/__init__.py|1690|get_model_with_lora_adapters|model = get_model(
{_TGI}/models/__init__.py|1032|get_model|return FlashCausalLM(
{_TGI}/models/flash_causal_lm.py|1268|__init__|model = model_class(prefix, config, weights)
"""),
    "tgi.config": _frames(f"""
/usr/src/.venv/bin/text-generation-server|10|<module>|sys.exit(app())
{_TGI}/cli.py|230|download_weights|config = hf_hub_download(
{_TF}/configuration_utils.py|649|get_config_dict|config_dict, kwargs = cls._get_config_dict(pretrained_model_name_or_path, **kwargs)
"""),
}
for _fw in ("sglang", "transformers"):
    TRACEBACKS[f"{_fw}.config"] = TRACEBACKS["sglang.main"] + _frames(f"""
{_SGL}/srt/configs/model_config.py|84|__init__|self.hf_config = get_config(
{_TF}/models/auto/configuration_auto.py|1246|from_pretrained|config_dict, unused_kwargs = PretrainedConfig.get_config_dict(pretrained_model_name_or_path, **kwargs)
""")
TRACEBACKS["sglang.parallel"] = TRACEBACKS["sglang.scheduler"]
TRACEBACKS["transformers.config"] = _frames(f"""
/usr/local/bin/transformers|8|<module>|sys.exit(main())
{_TF}/commands/transformers_cli.py|40|main|service.run()
{_TF}/commands/serving.py|812|run|self.load_model_and_processor(self.args.force_model)
{_TF}/models/auto/configuration_auto.py|1246|from_pretrained|config_dict, unused_kwargs = PretrainedConfig.get_config_dict(pretrained_model_name_or_path, **kwargs)
""")


def format_frames(frames: list[tuple[str, str, str, str]]) -> list[str]:
    lines = []
    for path, line, func, code in frames:
        lines.append(f'  File "{path}", line {line}, in {func}')
        if code:
            lines.append(f"    {code}")
    return lines


def render_traceback(where: str, error: str) -> list[str]:
    """A Python traceback through the framework's real call path, ending in `error`."""
    return ["Traceback (most recent call last):"] + format_frames(TRACEBACKS.get(where, [])) + (error.splitlines() or [""])


def vllm_ts() -> str:
    return time.strftime("%m-%d %H:%M:%S")


def sglang_ts() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


def tgi_ts() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _fmt_bytes_gib(n: float) -> str:
    return f"{n / 1024**3:.2f}"


class Narrator:
    """Base: the common vocabulary; subclasses give each framework its words."""

    framework = "vllm"

    def __init__(self, launch: "Launch", knobs: "Knobs", assessment: "Assessment"):
        self.launch = launch
        self.knobs = knobs
        self.assessment = assessment
        self.pid = os.getpid()
        self.engine_pid = self.pid + 47
        self.version = VERSIONS[self.framework]

    # hooks, each returns Lines
    def banner(self) -> Lines:
        return []

    def unknown_args(self, args: list[str]) -> Lines:
        return [(OUT, f"WARNING: unrecognized arguments ignored: {args}")]

    def note(self, text: str) -> Lines:
        return [(OUT, f"WARNING: {text}")]

    def after_config(self) -> Lines:
        return []

    def engine_start(self) -> Lines:
        return []

    def load_start(self) -> Lines:
        return []

    def shard(self, done: int, total: int, elapsed: float) -> Lines:
        return [(ERR, progress_bar("Loading safetensors checkpoint shards", done, total, elapsed))]

    def load_done(self, elapsed: float) -> Lines:
        return []

    def profile_done(self) -> Lines:
        return []

    def ready(self) -> Lines:
        return []

    def failure(self, failure: "Failure") -> Lines:
        lines: Lines = [(ERR, b) for b in failure.before]
        lines += [(ERR, line) for line in render_traceback(failure.where, failure.error)]
        lines += [(ERR, a) for a in failure.after]
        return lines

    def bind_error(self, message: str) -> Lines:
        return [(ERR, f"ERROR:    {message}")]

    def access(self, peer: str, method: str, path: str, version: str, status: int, reason: str) -> Lines:
        return [(OUT, f'INFO:     {peer} - "{method} {path} HTTP/{version}" {status} {reason}')]

    def shutdown(self) -> Lines:
        return [(ERR, "INFO:     Shutting down"), (ERR, "INFO:     Waiting for application shutdown."),
                (ERR, "INFO:     Application shutdown complete."),
                (ERR, f"INFO:     Finished server process [{self.pid}]")]

    def stats(self, prompt_tps: float, gen_tps: float, running: int, waiting: int, cache: float) -> Lines:
        return []

    def uvicorn_ready(self) -> Lines:
        host = self.launch.display_host
        return [(ERR, f"INFO:     Started server process [{self.pid}]"), (ERR, "INFO:     Waiting for application startup."),
                (ERR, "INFO:     Application startup complete."),
                (ERR, f"INFO:     Uvicorn running on http://{host}:{self.launch.port} (Press CTRL+C to quit)")]


def progress_bar(label: str, done: int, total: int, elapsed: float) -> str:
    pct = int(100 * done / total) if total else 100
    rate = f"{elapsed / done:.2f}s/it" if done else "?it/s"
    remaining = (elapsed / done) * (total - done) if done else 0
    return (f"{label}: {pct:3d}% Completed | {done}/{total} [{_mmss(elapsed)}<{_mmss(remaining) if done else '?'}, "
            f"{rate}]")


def _mmss(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


class VllmNarrator(Narrator):
    framework = "vllm"

    def api(self, msg: str, src: str, level: str = "INFO") -> tuple[str, str]:
        return (OUT, f"(APIServer pid={self.pid}) {level} {vllm_ts()} [{src}] {msg}")

    def core(self, msg: str, src: str, level: str = "INFO") -> tuple[str, str]:
        return (OUT, f"(EngineCore_DP0 pid={self.engine_pid}) {level} {vllm_ts()} [{src}] {msg}")

    def banner(self) -> Lines:
        platform = "cuda" if self.knobs.gpu else "cpu"
        args = {"model_tag": self.launch.model} if self.launch.launcher == "vllm serve" else {}
        args.update(self.launch.non_default)
        return [self.api(f"Automatically detected platform {platform}.", "__init__.py:216"),
                self.api(f"vLLM API server version {self.version}", "api_server.py:1839"),
                self.api(f"non-default args: {args}", "utils.py:233")]

    def unknown_args(self, args: list[str]) -> Lines:
        return [self.api(f"Found unrecognized arguments, ignored by this server: {args}", "arg_utils.py:1764",
                         "WARNING")]

    def note(self, text: str) -> Lines:
        return [self.api(text, "model.py:1704", "WARNING")]

    def after_config(self) -> Lines:
        a = self.assessment
        arch = a.info.architecture if a.info else "?"
        batched = self.launch.max_num_batched_tokens or 8192
        return [self.api(f"Resolved architecture: {arch}", "model.py:547"),
                self.api(f"Using max model len {a.max_model_len}", "model.py:1510"),
                self.api(f"Chunked prefill is enabled with max_num_batched_tokens={batched}.", "scheduler.py:205")]

    def engine_start(self) -> Lines:
        from .checks import TORCH_DTYPE, resolve_dtype

        a, lc = self.assessment, self.launch
        dtype = TORCH_DTYPE.get(resolve_dtype(lc, a.info, self.knobs.gpu), "torch.bfloat16")
        config = (f"model='{lc.model}', speculative_config=None, tokenizer='{lc.model}', skip_tokenizer_init=False, "
                  f"tokenizer_mode=auto, revision=None, trust_remote_code={lc.trust_remote_code}, dtype={dtype}, "
                  f"max_seq_len={a.max_model_len}, download_dir=None, load_format=auto, "
                  f"tensor_parallel_size={lc.tensor_parallel_size}, pipeline_parallel_size={lc.pipeline_parallel_size}, "
                  f"data_parallel_size=1, disable_custom_all_reduce=False, quantization={lc.quantization or (a.info.quant_method if a.info else None)}, "
                  f"enforce_eager={lc.enforce_eager}, kv_cache_dtype={lc.kv_cache_dtype}, "
                  f"device_config={'cuda' if self.knobs.gpu else 'cpu'}, seed=0, served_model_name={lc.served_name}, "
                  "enable_prefix_caching=True, chunked_prefill_enabled=True")
        return [self.core("Waiting for init message from front-end.", "core.py:644"),
                self.core(f"Initializing a V1 LLM engine (v{self.version}) with config: {config}", "core.py:77")]

    def load_start(self) -> Lines:
        tp = max(1, self.launch.tensor_parallel_size)
        lines = [self.core(f"rank 0 in world size {tp} is assigned as DP rank 0, PP rank 0, TP rank 0, EP rank 0",
                           "parallel_state.py:1208"),
                 self.core(f"Starting to load model {self.launch.model}...", "gpu_model_runner.py:2602")]
        if self.knobs.gpu:
            backend = "Flash Attention" if self.knobs.gpu.compute_capability >= (8, 0) else "FlexAttention"
            lines.append(self.core(f"Using {backend} backend on V1 engine.", "cuda.py:366"))
        else:
            lines.append(self.core("Using Torch SDPA backend.", "cpu.py:117"))
        return lines

    def load_done(self, elapsed: float) -> Lines:
        plan, info = self.assessment.plan, self.assessment.info
        if plan:
            gib = plan.weights_per_gpu / 1024**3
        else:
            from .checks import DTYPE_BYTES, resolve_dtype

            gib = (info.params * DTYPE_BYTES.get(resolve_dtype(self.launch, info, None), 2) / 1024**3) if info else 0.0
        return [(ERR, ""),
                self.core(f"Loading weights took {elapsed:.2f} seconds", "default_loader.py:267"),
                self.core(f"Model loading took {gib:.4f} GiB and {elapsed + 0.4:.6f} seconds", "gpu_model_runner.py:2653")]

    def profile_done(self) -> Lines:
        a = self.assessment
        lines = []
        if a.plan:
            lines.append(self.core(f"Available KV cache memory: {_fmt_bytes_gib(a.plan.kv_budget)} GiB", "gpu_worker.py:298"))
        if a.kv_tokens:
            lines.append(self.core(f"GPU KV cache size: {a.kv_tokens:,} tokens", "kv_cache_utils.py:1087"))
            lines.append(self.core(f"Maximum concurrency for {a.max_model_len:,} tokens per request: "
                                   f"{a.kv_tokens / max(a.max_model_len, 1):.2f}x", "kv_cache_utils.py:1091"))
        return lines

    def failure(self, failure: "Failure") -> Lines:
        if failure.stage in ("platform", "config"):
            lines: Lines = [(ERR, f"(APIServer pid={self.pid}) {b}") for b in failure.before]
            if failure.where == "vllm.hf_config":
                cause = failure.details.get("cause", "")
                lines += self._prefixed(render_traceback("vllm.hf_config.cause", cause), "api")
                lines.append((ERR, f"(APIServer pid={self.pid}) "))
                lines.append((ERR, f"(APIServer pid={self.pid}) The above exception was the direct cause of the "
                                   "following exception:"))
                lines.append((ERR, f"(APIServer pid={self.pid}) "))
            lines += self._prefixed(render_traceback(failure.where, failure.error), "api")
            return lines
        return self._engine_failure(failure)

    def _engine_failure(self, failure: "Failure") -> Lines:
        ts = vllm_ts()
        head = f"(EngineCore_DP0 pid={self.engine_pid})"
        err = f"{head} ERROR {ts} [core.py:708]"
        lines: Lines = [(ERR, b) for b in failure.before]
        lines.append((ERR, f"{err} EngineCore failed to start."))
        tb = render_traceback(failure.where, failure.error)
        lines += [(ERR, f"{err} {line}") for line in tb]
        lines.append((ERR, f"{head} Process EngineCore_DP0:"))
        lines += [(ERR, f"{head} {line}") for line in tb]
        wrapper = "RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}"
        api = (["Traceback (most recent call last):"] + format_frames(TRACEBACKS["vllm.api"])
               + format_frames(_frames(_VLLM_WRAPPER)) + [wrapper])
        lines += self._prefixed(api, "api")
        return lines

    def _prefixed(self, lines: list[str], who: str) -> Lines:
        prefix = f"(APIServer pid={self.pid})" if who == "api" else f"(EngineCore_DP0 pid={self.engine_pid})"
        return [(ERR, f"{prefix} {line}") for line in lines]

    def ready(self) -> Lines:
        lc = self.launch
        routes = ["/openapi.json", "/docs", "/health", "/load", "/ping", "/tokenize", "/detokenize", "/v1/models",
                  "/version", "/v1/chat/completions", "/v1/completions", "/metrics"]
        lines = [self.api("Supported_tasks: ['generate']", "api_server.py:1634"),
                 self.api(f"Starting vLLM API server 0 on http://{lc.display_host}:{lc.port}", "api_server.py:1912"),
                 self.api("Available routes are:", "launcher.py:34")]
        for route in routes:
            method = "POST" if route.startswith(("/v1/chat", "/v1/completions", "/tokenize", "/detokenize")) else "GET"
            lines.append(self.api(f"Route: {route}, Methods: {method}", "launcher.py:42"))
        lines += [(OUT, f"(APIServer pid={self.pid}) {line}") for _, line in self.uvicorn_ready()]
        return lines

    def access(self, peer, method, path, version, status, reason) -> Lines:
        return [(OUT, f'(APIServer pid={self.pid}) INFO:     {peer} - "{method} {path} HTTP/{version}" {status} {reason}')]

    def bind_error(self, message: str) -> Lines:
        return [(ERR, f"(APIServer pid={self.pid}) ERROR:    {message}")]

    def shutdown(self) -> Lines:
        return [(OUT, f"(APIServer pid={self.pid}) {line}") for _, line in super().shutdown()]

    def stats(self, prompt_tps, gen_tps, running, waiting, cache) -> Lines:
        return [self.api(f"Engine 000: Avg prompt throughput: {prompt_tps:.1f} tokens/s, Avg generation throughput: "
                         f"{gen_tps:.1f} tokens/s, Running: {running} reqs, Waiting: {waiting} reqs, GPU KV cache "
                         f"usage: {cache * 100:.1f}%, Prefix cache hit rate: 0.0%", "loggers.py:123")]


class SglangNarrator(Narrator):
    framework = "sglang"

    def main(self, msg: str) -> tuple[str, str]:
        return (OUT, f"[{sglang_ts()}] {msg}")

    def tp(self, msg: str) -> tuple[str, str]:
        return (OUT, f"[{sglang_ts()} TP0] {msg}")

    def banner(self) -> Lines:
        lc = self.launch
        args = (f"model_path='{lc.model}', tokenizer_path='{lc.model}', tokenizer_mode='auto', load_format='auto', "
                f"trust_remote_code={lc.trust_remote_code}, dtype='{lc.dtype}', kv_cache_dtype='{lc.kv_cache_dtype}', "
                f"quantization={lc.quantization!r}, context_length={lc.max_model_len}, device='cuda', "
                f"served_model_name='{lc.served_name}', host='{lc.host}', port={lc.port}, "
                f"mem_fraction_static={lc.memory_utilization or 0.88}, max_running_requests={lc.max_num_seqs}, "
                f"tp_size={lc.tensor_parallel_size}, enable_metrics={lc.metrics_enabled}")
        return [self.main(f"server_args=ServerArgs({args})")]

    def unknown_args(self, args):
        return [self.main(f"WARNING: unrecognized arguments ignored: {args}")]

    def note(self, text):
        return [self.main(f"Warning: {text}")]

    def engine_start(self) -> Lines:
        return [self.tp("Attention backend not set. Use flashinfer backend by default."),
                self.tp("Init torch distributed begin."), self.tp("Init torch distributed ends. mem usage=0.00 GB")]

    def load_start(self) -> Lines:
        gpu = self.knobs.gpu
        avail = gpu.memory_total_mib / 1024 * 0.98 if gpu else 0.0
        return [self.tp(f"Load weight begin. avail mem={avail:.2f} GB")]

    def load_done(self, elapsed: float) -> Lines:
        a = self.assessment
        from .checks import TORCH_DTYPE, resolve_dtype

        dtype = TORCH_DTYPE.get(resolve_dtype(self.launch, a.info, self.knobs.gpu), "torch.bfloat16")
        used = a.plan.weights_per_gpu / 1024**3 if a.plan else 0.0
        avail = (self.knobs.gpu.memory_total_mib / 1024 * 0.98 - used) if self.knobs.gpu else 0.0
        arch = a.info.architecture if a.info else "?"
        return [self.tp(f"Load weight end. type={arch}, dtype={dtype}, avail mem={avail:.2f} GB, mem usage={used:.2f} GB.")]

    def profile_done(self) -> Lines:
        a = self.assessment
        tokens = a.kv_tokens or a.max_model_len * 4
        return [self.tp(f"KV Cache is allocated. #tokens: {tokens}"),
                self.tp(f"max_total_num_tokens={tokens}, chunked_prefill_size={self.launch.max_num_batched_tokens or 8192}, "
                        f"max_prefill_tokens=16384, max_running_requests={self.launch.max_num_seqs or 4096}, "
                        f"context_len={a.max_model_len}")]

    def ready(self) -> Lines:
        lines = [(OUT, f"[{sglang_ts()}] {line}") for _, line in self.uvicorn_ready()]
        lines.append(self.main("The server is fired up and ready to roll!"))
        return lines

    def failure(self, failure) -> Lines:
        if failure.where in ("sglang.config", "sglang.main"):
            return [(ERR, line) for line in failure.before] + [(ERR, line) for line in
                                                              render_traceback(failure.where, failure.error)]
        tb = render_traceback(failure.where, failure.error)
        lines: Lines = [(ERR, b) for b in failure.before]
        lines.append((ERR, f"[{sglang_ts()} TP0] Scheduler hit an exception: {tb[0]}"))
        lines += [(ERR, line) for line in tb[1:]]
        lines.append((ERR, ""))
        lines.append((ERR, f"[{sglang_ts()}] Received sigquit from a child process. It usually means the child failed."))
        return lines

    def access(self, peer, method, path, version, status, reason) -> Lines:
        return [(OUT, f'[{sglang_ts()}] INFO:     {peer} - "{method} {path} HTTP/{version}" {status} {reason}')]

    def bind_error(self, message):
        return [(ERR, f"[{sglang_ts()}] ERROR:    {message}")]

    def shutdown(self):
        return [(OUT, f"[{sglang_ts()}] {line}") for _, line in super().shutdown()]

    def stats(self, prompt_tps, gen_tps, running, waiting, cache) -> Lines:
        return [self.tp(f"Decode batch. #running-req: {running}, #token: 0, token usage: {cache:.2f}, "
                        f"gen throughput (token/s): {gen_tps:.2f}, #queue-req: {waiting}")]


class TgiNarrator(Narrator):
    framework = "tgi"

    def log(self, msg: str, target: str = "text_generation_launcher", level: str = "INFO", stream: str = OUT):
        return (stream, f"{tgi_ts()} {level:>5} {target}: {msg}")

    def banner(self) -> Lines:
        lc = self.launch
        args = (f'Args {{ model_id: "{lc.model}", revision: None, validation_workers: 2, sharded: None, '
                f"num_shard: {'Some(%d)' % lc.tensor_parallel_size if lc.tensor_parallel_size > 1 else 'None'}, "
                f"quantize: {('Some(' + lc.quantization.capitalize() + ')') if lc.quantization else 'None'}, "
                f"dtype: {('Some(' + lc.dtype.capitalize() + ')') if lc.dtype != 'auto' else 'None'}, "
                f"trust_remote_code: {str(lc.trust_remote_code).lower()}, max_concurrent_requests: {lc.max_num_seqs or 128}, "
                f"max_total_tokens: {('Some(%d)' % lc.max_model_len) if lc.max_model_len else 'None'}, "
                f'hostname: "{lc.host}", port: {lc.port}, cuda_memory_fraction: {lc.memory_utilization or 1.0} }}')
        return [self.log(args),
                self.log(f"Starting check and download process for {lc.model}", "download: text_generation_launcher"),
                self.log("Files are already present on the host. Skipping download.",
                         "download: text_generation_launcher"),
                self.log(f"Successfully downloaded weights for {lc.model}", "download: text_generation_launcher")]

    def unknown_args(self, args):
        return [self.log(f"unrecognized arguments ignored: {args}", level="WARN")]

    def note(self, text):
        return [self.log(text, level="WARN")]

    def engine_start(self) -> Lines:
        shards = max(1, self.launch.tensor_parallel_size)
        return [self.log(f"Starting shard rank={r}", "shard-manager: text_generation_launcher") for r in range(shards)]

    def load_start(self) -> Lines:
        return [self.log("Using prefix caching = True"), self.log("Using Attention = flashinfer")]

    def shard(self, done, total, elapsed) -> Lines:
        return [self.log("Waiting for shard to be ready... rank=0", "shard-manager: text_generation_launcher")]

    def load_done(self, elapsed) -> Lines:
        shards = max(1, self.launch.tensor_parallel_size)
        return [self.log(f"Shard ready in {elapsed:.1f}s rank={r}", "shard-manager: text_generation_launcher")
                for r in range(shards)] + [self.log("Starting Webserver"),
                                           self.log("Warming up model", "text_generation_router_v3: backends/v3/src/lib.rs:125")]

    def profile_done(self) -> Lines:
        tokens = self.assessment.kv_tokens or self.assessment.max_model_len * 4
        return [self.log(f"KV-cache blocks: {tokens}, size: 1")]

    def ready(self) -> Lines:
        return [self.log("Setting max batch total tokens to %d" % (self.assessment.kv_tokens or 16000),
                         "text_generation_router_v3: backends/v3/src/lib.rs:137"),
                self.log("Using backend V3", "text_generation_router::server: router/src/server.rs:1913"),
                self.log("Connected", "text_generation_router::server: router/src/server.rs:2252")]

    def failure(self, failure) -> Lines:
        if failure.where == "tgi.warmup":
            msg = failure.details.get("message", failure.error)
            return [self.log(f"Server error: {msg}", "warmup{max_input_length=None max_prefill_tokens=4096 "
                             "max_total_tokens=None max_batch_size=None}:warmup: text_generation_router_v3::client: "
                             "backends/v3/src/client/mod.rs:45", "ERROR", ERR),
                    (ERR, failure.error),
                    self.log("Webserver Crashed", level="ERROR", stream=ERR),
                    self.log("Shutting down shards"),
                    (ERR, "Error: WebserverFailed")]
        if failure.where == "tgi.config":
            tb = render_traceback(failure.where, failure.error)
            return ([self.log("Download encountered an error: ", "download: text_generation_launcher", "ERROR", ERR)] +
                    [(ERR, line) for line in tb] + [(ERR, "Error: DownloadError")])
        tb = render_traceback(failure.where, failure.error)
        rank = failure.shard if failure.where == "tgi.shard" and failure.signature is None else 0
        lines: Lines = [(ERR, b) for b in failure.before]
        lines.append(self.log("Error when initializing model", level="ERROR", stream=ERR))
        lines += [(ERR, line) for line in tb]
        lines.append(self.log("Shard complete standard error output:\n\n" + "\n".join(tb) + f" rank={rank}",
                              "shard-manager: text_generation_launcher", "ERROR", ERR))
        lines.append(self.log(f"Shard {rank} failed to start", level="ERROR", stream=ERR))
        lines.append(self.log("Shutting down shards"))
        lines.append((ERR, "Error: ShardCannotStart"))
        return lines

    def access(self, peer, method, path, version, status, reason) -> Lines:
        level = "INFO" if status < 400 else "ERROR"
        return [self.log(f'{method} {path} {peer} {status}', "text_generation_router::server: router/src/server.rs:422",
                         level)]

    def bind_error(self, message):
        return [self.log("Webserver Crashed", level="ERROR", stream=ERR),
                (ERR, 'Error: WebServer(Axum(Os { code: 98, kind: AddrInUse, message: "Address already in use" }))')]

    def shutdown(self):
        return [self.log("signal received, starting graceful shutdown", "text_generation_router::server: router/src/server.rs:2379"),
                self.log("Terminating webserver"), self.log("Waiting for webserver to gracefully shutdown"),
                self.log("webserver terminated"), self.log("Shutting down shards"),
                self.log("Terminating shard rank=0", "shard-manager: text_generation_launcher"),
                self.log("Shard terminated rank=0", "shard-manager: text_generation_launcher")]


class LlamaCppNarrator(Narrator):
    framework = "llama.cpp"

    def banner(self) -> Lines:
        lc = self.launch
        cores = os.cpu_count() or 1
        lines: Lines = []
        if self.knobs.gpu:
            g = self.knobs.gpu
            lines += [(ERR, "ggml_cuda_init: GGML_CUDA_FORCE_MMQ:    no"), (ERR, "ggml_cuda_init: GGML_CUDA_FORCE_CUBLAS: no"),
                      (ERR, f"ggml_cuda_init: found {g.count} CUDA devices:")]
            lines += [(ERR, f"  Device {i}: {g.name}, compute capability {g.cc_text}, VMM: yes") for i in range(g.count)]
            lines.append((ERR, "load_backend: loaded CUDA backend from /app/libggml-cuda.so"))
        lines += [(ERR, "load_backend: loaded CPU backend from /app/libggml-cpu-haswell.so"),
                  (ERR, "build: 6000 (0a5a3b5c) with cc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0 for x86_64-linux-gnu"),
                  (ERR, f"system info: n_threads = {cores}, n_threads_batch = {cores}, total_threads = {cores}"),
                  (ERR, ""),
                  (ERR, "main: binding port with default address family"),
                  (ERR, f"main: HTTP server is listening, hostname: {lc.host}, port: {lc.port}, http threads: {max(cores - 1, 1)}"),
                  (ERR, "main: loading model"),
                  (ERR, f"srv    load_model: loading model '{lc.model}'")]
        return lines

    def unknown_args(self, args):
        return [(ERR, f"warn: unrecognized arguments ignored: {' '.join(args)}")]

    def note(self, text):
        return [(ERR, text)]

    def load_start(self) -> Lines:
        info = self.assessment.info
        if info is None:
            return []
        meta = info.gguf_meta
        n_kv = len([k for k in meta if not k.startswith("__")])
        lines: Lines = []
        if self.knobs.gpu:
            g = self.knobs.gpu
            lines.append((ERR, f"llama_model_load_from_file_impl: using device CUDA0 ({g.name}) - "
                               f"{int(g.memory_total_mib * 0.97)} MiB free"))
        lines += [(ERR, f"llama_model_loader: loaded meta data with {n_kv} key-value pairs and "
                        f"{max(info.num_layers * 9 + 3, 3)} tensors from {info.path} (version GGUF V{meta.get('__version__', 3)} (latest))"),
                  (ERR, f"print_info: arch             = {info.model_type}"),
                  (ERR, f"print_info: n_ctx_train      = {info.max_position_embeddings or 0}"),
                  (ERR, f"print_info: n_embd           = {info.hidden_size}"),
                  (ERR, f"print_info: n_layer          = {info.num_layers}"),
                  (ERR, f"print_info: n_head           = {info.num_heads}"),
                  (ERR, f"print_info: n_head_kv        = {info.num_kv_heads}"),
                  (ERR, f"print_info: file size   = {info.file_bytes / 1024**2:.2f} MiB")]
        return lines

    def shard(self, done, total, elapsed) -> Lines:
        return []

    def load_done(self, elapsed) -> Lines:
        info = self.assessment.info
        lc = self.launch
        layers = info.num_layers if info else 0
        lines: Lines = []
        if self.knobs.gpu and lc.gpu_layers:
            off = layers + 1 if lc.gpu_layers < 0 else min(lc.gpu_layers, layers + 1)
            lines += [(ERR, f"load_tensors: offloading {min(off, layers)} repeating layers to GPU"),
                      (ERR, f"load_tensors: offloaded {off}/{layers + 1} layers to GPU")]
        size = info.file_bytes / 1024**2 if info else 0
        lines.append((ERR, f"load_tensors:   CPU_Mapped model buffer size = {size:8.2f} MiB"))
        lines.append((ERR, "." * 40))
        ctx = self.assessment.max_model_len
        if info and info.max_position_embeddings and ctx > info.max_position_embeddings:
            lines.append((ERR, f"llama_context: n_ctx_per_seq ({ctx}) > n_ctx_train ({info.max_position_embeddings}) -- "
                               "possible training context overflow"))
        lines += [(ERR, f"llama_context: n_ctx         = {ctx}"),
                  (ERR, f"srv          init: initializing slots, n_slots = {lc.max_num_seqs or 4}")]
        return lines

    def ready(self) -> Lines:
        lc = self.launch
        return [(ERR, "main: model loaded"),
                (ERR, "main: chat template, chat_template: chatml, example_format: '<|im_start|>system\\nYou are a "
                      "helpful assistant<|im_end|>\\n<|im_start|>user\\nHello<|im_end|>\\n<|im_start|>assistant\\n'"),
                (ERR, f"main: server is listening on http://{lc.host}:{lc.port} - starting the main loop"),
                (ERR, "srv  update_slots: all slots are idle")]

    def failure(self, failure) -> Lines:
        return [(ERR, b) for b in failure.before] + [(ERR, failure.error)] + [(ERR, a) for a in failure.after]

    def access(self, peer, method, path, version, status, reason) -> Lines:
        host = peer.rsplit(":", 1)[0]
        return [(ERR, f"srv  log_server_r: request: {method} {path} {host} {status}")]

    def bind_error(self, message):
        lc = self.launch
        return [(ERR, f"main: couldn't bind HTTP server socket, hostname: {lc.host}, port: {lc.port}")]

    def shutdown(self):
        return [(ERR, "srv    operator(): operator(): cleaning up before exit..."),
                (ERR, "main: exiting due to signal")]


class TransformersNarrator(Narrator):
    framework = "transformers"

    def banner(self):
        return [(ERR, f"INFO:     Loading model {self.launch.model}")]

    def failure(self, failure):
        return [(ERR, line) for line in render_traceback("transformers.config", failure.error)]

    def ready(self):
        return self.uvicorn_ready()


NARRATORS = {"vllm": VllmNarrator, "sglang": SglangNarrator, "tgi": TgiNarrator, "llama.cpp": LlamaCppNarrator,
             "transformers": TransformersNarrator}


def narrator_for(launch: "Launch", knobs: "Knobs", assessment: "Assessment") -> Narrator:
    return NARRATORS[launch.framework](launch, knobs, assessment)

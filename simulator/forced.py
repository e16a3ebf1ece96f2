"""MODELDEPLOY_SIM_FAIL=N: the startup failure of row N of failure-signatures.md, whatever the checks say.

The numbers in the text come from the model and the virtual GPU when known,
else from plausible defaults (a Tesla T4, Llama-3.1-8B shapes). Rows whose
error does not come from the server itself (10 and 12 are printed by
`docker run`, 24 is a Kubernetes event) are reproduced as the closest server
behaviour: 10 and 12 print the daemon's message and exit 1, 24 never finishes
loading (so a startup probe gives up).
"""

from __future__ import annotations

from .checks import (MemoryPlan, Failure, bf16_unsupported, context_too_long, corrupt_safetensors, cuda_oom,
                     driver_too_old, flash_attention_unsupported, kv_too_small,
                     llama_cpp_oom, llama_cpp_unknown_arch, nccl_shm, no_cache_memory, no_kernel_image,
                     quant_capability, tgi_prefill, trust_remote_code, unsupported_architecture)
from .knobs import Knobs, VirtualGPU
from .launch import Launch
from .modelinfo import ModelInfo

_T4 = VirtualGPU(name="Tesla T4", memory_total_mib=15360, compute_capability=(7, 5), count=1, cuda_driver_version="12.2")
_DEFAULT_INFO = ModelInfo(path="", kind="hf", architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=4096,
                          num_layers=32, num_heads=32, num_kv_heads=8, head_dim=128, intermediate_size=14336,
                          vocab_size=128256, max_position_embeddings=131072, torch_dtype="bfloat16",
                          params=8_030_261_248, linear_params=6_979_321_856)

KNOWN = tuple(range(1, 27))


def forced_failure(number: int, launch: Launch, info: ModelInfo | None, knobs: Knobs, plan: MemoryPlan | None,
                   max_len: int) -> Failure:
    gpu = knobs.gpu or _T4
    model = info or _DEFAULT_INFO
    fw = launch.framework
    if number == 1:
        from .checks import memory_plan

        return cuda_oom(launch, model, plan or memory_plan(launch, model, gpu), gpu)
    if number == 2:
        return kv_too_small(launch, max_len, max(16, (max_len // 3) // 16 * 16))
    if number == 3:
        from .checks import memory_plan

        failure = no_cache_memory(launch, plan or memory_plan(launch, model, gpu))
        if fw == "sglang":  # SGLang's wording is row 21; row 3 is vLLM's
            return Failure(3, "profile", "ValueError: No available memory for the cache blocks. Try increasing "
                           "`gpu_memory_utilization` when initializing the engine.", "vllm.kv")
        return failure
    if number == 4:
        old = gpu if gpu.compute_capability < (8, 0) else _T4
        return bf16_unsupported(launch, old)
    if number == 5:
        old = gpu if gpu.cc_int < 89 else VirtualGPU("NVIDIA A100-SXM4-80GB", 81920, (8, 0))
        return quant_capability(launch, "fp8", 89, old)
    if number == 6:
        return trust_remote_code(launch)
    if number == 7:
        fake = ModelInfo(path=model.path, kind="hf", architectures=[(model.architecture or "Model") if not info else
                                                                     model.architecture], model_type=model.model_type)
        failure = unsupported_architecture(launch, fake)
        return Failure(7, failure.stage, failure.error, failure.where, failure.before)
    if number == 8:
        heads = model.num_heads or 32
        bad = next((t for t in (3, 5, 6, 7) if heads % t), 3)
        return Failure(8, "config", f"ValueError: Total number of attention heads ({heads}) must be divisible by "
                       f"tensor parallel size ({bad}).", "sglang.parallel" if fw == "sglang" else "vllm.parallel")
    if number == 9:
        old = VirtualGPU(gpu.name, gpu.memory_total_mib, gpu.compute_capability, gpu.count,
                         gpu.cuda_driver_version if knobs.image_cuda else "11.4")
        return driver_too_old(launch, old, knobs.image_cuda or "12.8")
    if number == 10:
        cuda = knobs.image_cuda or "12.8"
        return Failure(10, "platform", "docker: Error response from daemon: failed to create task for container: "
                       "failed to create shim task: OCI runtime create failed: runc create failed: unable to start "
                       "container process: error during container init: error running hook #0: error running hook: "
                       "exit status 1, stdout: , stderr: Auto-detected mode as 'legacy'\n"
                       f"nvidia-container-cli: requirement error: unsatisfied condition: cuda>={cuda}, please update "
                       "your driver to a newer version, or use an earlier cuda container: unknown.", "none")
    if number == 11:
        return Failure(11, "engine", "RuntimeError: Unexpected error from cudaGetDeviceCount(). Did you run some cuda "
                       "functions before calling NumCudaDevices() that might have already set an error? Error 804: "
                       "forward compatibility was attempted on non supported HW", f"{_where(fw)}")
    if number == 12:
        return Failure(12, "platform", "docker: Error response from daemon: could not select device driver \"\" with "
                       "capabilities: [[gpu]].", "none")
    if number == 13:
        return Failure(13, "engine", no_kernel_image(launch).error, _where(fw))
    if number == 14:
        return Failure(14, "engine", flash_attention_unsupported(launch).error, "vllm.attention"
                       if fw == "vllm" else _where(fw))
    if number == 15:
        return nccl_shm(launch, 64 * 1024 * 1024, seed=launch.model)
    if number == 16:
        derived = model.max_position_embeddings or 4096
        return context_too_long(launch, model, max(launch.max_model_len or 0, derived * 2), derived,
                                "max_position_embeddings")
    if number == 17:
        repo = launch.model.strip("/") or "meta-llama/Llama-3.1-8B-Instruct"
        return Failure(17, "config", "huggingface_hub.errors.GatedRepoError: 401 Client Error. (Request ID: "
                       "Root=1-6743a1b2-3c5d7e9f1a2b4c6d8e0f1a2b;9f8e7d6c-5b4a-3928-1706-f5e4d3c2b1a0)\n\n"
                       f"Cannot access gated repo for url https://huggingface.co/{repo}/resolve/main/config.json.\n"
                       f"Access to model {repo} is restricted. You must have access to it and be authenticated to "
                       "access it. Please log in.", f"{fw}.config" if fw in ("vllm", "sglang", "tgi") else "vllm.config")
    if number == 18:
        return Failure(18, "engine", "RuntimeError: CUDA error: an illegal memory access was encountered\nCUDA kernel "
                       "errors might be asynchronously reported at some other API call, so the stacktrace below might "
                       "be incorrect.", "vllm.executor")
    if number == 19:
        return tgi_prefill(launch, launch.max_num_batched_tokens or 4096)
    if number == 20:
        heads = model.num_heads or 32
        return Failure(20, "load", f"ValueError: `num_heads` must be divisible by `num_shards` (got `num_heads`: "
                       f"{heads} and `num_shards`: {next((t for t in (3, 5, 6, 7) if heads % t), 3)}", "tgi.shard")
    if number == 21:
        return Failure(21, "profile", "RuntimeError: Not enough memory. Please try to increase --mem-fraction-static.",
                       "sglang.scheduler")
    if number == 22:
        return llama_cpp_unknown_arch(launch, model.model_type if info and info.kind == "gguf" else "deepseek4")
    if number == 23:
        return llama_cpp_oom(launch, "model", 4_618_452_992)
    if number == 24:
        return Failure(24, "hang", "", "none")
    if number == 25:
        return Failure(25, "bind", f"[Errno 98] error while attempting to bind on address ('{launch.display_host}', "
                       f"{launch.port}): address already in use", "none")
    if number == 26:
        if info and info.weight_files:
            return corrupt_safetensors(launch, info.weight_files[-1], "MetadataIncompleteBuffer",
                                       len(info.weight_files) - 1)
        path = f"{launch.model.rstrip('/')}/model-00002-of-00004.safetensors"
        return corrupt_safetensors(launch, path, "MetadataIncompleteBuffer", 1)
    raise ValueError(f"MODELDEPLOY_SIM_FAIL={number}: there is no such row in failure-signatures.md (1-26)")


def _where(framework: str) -> str:
    return {"vllm": "vllm.executor", "sglang": "sglang.scheduler", "tgi": "tgi.shard"}.get(framework, "vllm.executor")


__all__ = ["forced_failure", "KNOWN"]

"""Feasible deployment candidates for a model on a machine, with the arithmetic shown.

Hard rules first (device, format, architecture, compute capability, quantization
kernels, dtype, image CUDA vs driver), then memory: for each framework the
tensor-parallel sizes that divide the heads are tried smallest first, and a
candidate is feasible when the weights fit and the KV budget holds the required
context. When nothing fits, `alternatives` names the nearest changes that would.
"""

from __future__ import annotations

from dataclasses import dataclass

from modeldeploy.catalog import Catalog, FrameworkSpec, load_catalog
from modeldeploy.schemas.hardware import HardwareFacts, parse_version
from modeldeploy.schemas.model import ModelFacts, Quantization
from modeldeploy.schemas.plan import Candidate, MemoryMath, Plan
from modeldeploy.schemas.run import DeployRequest
from modeldeploy.tools.planning import memory_math as mm

DEFAULT_CONTEXT = 4096
"""Context a deployment must at least hold when the user asks for none (or the model's own, if shorter)."""
MIN_FREE_MARGIN = 0.01


@dataclass
class _Setting:
    """The framework-independent choices for one framework: dtype, quantization, image."""

    dtype: str | None
    quantization: str | None
    image: str | None
    image_cuda: str | None
    version: str | None
    notes: list[str]


def native_context(model: ModelFacts) -> int:
    return int(model.max_position_embeddings or 4096)


def required_context(model: ModelFacts, request: DeployRequest) -> int:
    if request.max_model_len:
        return request.max_model_len
    return min(native_context(model), DEFAULT_CONTEXT)


def _cc(hw: HardwareFacts) -> tuple[int, int] | None:
    return min(g.capability for g in hw.gpus) if hw.gpus else None


def _cc_text(cc: tuple[int, int]) -> str:
    return f"{cc[0]}.{cc[1]}"


def _choose_dtype(spec: FrameworkSpec, model: ModelFacts, hw: HardwareFacts, catalog: Catalog,
                  quant_dtypes: list[str] | None) -> tuple[str | None, list[str], str | None]:
    """(dtype, notes, rejection)."""
    if model.format == "gguf":
        return None, [], None
    refuses_fp16 = (model.family or "") in catalog.families.refuses_fp16
    if quant_dtypes and hw.gpus:
        dtype = quant_dtypes[0]
        if dtype == "float16" and refuses_fp16:
            return None, [], f"{model.family} refuses float16, which {model.quantization.method} kernels need"
        return dtype, [f"{model.quantization.method} kernels run in {dtype}"], None
    native = str(model.torch_dtype or "bfloat16")
    if not hw.gpus:
        flags = set(hw.cpu.flags)
        if native == "bfloat16" and flags & {"avx512_bf16", "amx_bf16"} and spec.name == "vllm":
            return "bfloat16", ["CPU has avx512_bf16/amx: bfloat16"], None
        if native == "bfloat16":
            return "float32", ["CPU without bf16 instructions: float32"], None
        return "float32", [f"checkpoint is {native}: served in float32 on the CPU (numerics as trained)"], None
    cc = _cc(hw)
    if native == "float16":
        if refuses_fp16:
            return "bfloat16" if cc >= (8, 0) else "float32", [], None
        return "float16", [], None
    if cc >= (8, 0):
        return "bfloat16", [] if native == "bfloat16" else [f"checkpoint is {native}; serving in bfloat16"], None
    if refuses_fp16:
        return "float32", [f"bfloat16 needs compute capability >= 8.0 (this GPU: {_cc_text(cc)}) and {model.family} "
                           "refuses float16: float32, twice the memory"], None
    return "float16", [f"bfloat16 needs compute capability >= 8.0 (this GPU: {_cc_text(cc)}): float16"], None


def _setting(spec: FrameworkSpec, model: ModelFacts, hw: HardwareFacts,
             catalog: Catalog, forced: bool = False) -> tuple[_Setting | None, tuple[str, str] | None]:
    """Hard rules for one framework; (setting, None) or (None, why not).

    An architecture missing from the catalog's list is a "no" unless the user forced the
    framework: the list is what modeldeploy knows works, not everything the framework serves."""
    device = "cuda" if hw.gpus else "cpu"
    name = spec.display_name
    if device not in spec.devices:
        return None, ("not_applicable", f"{name} does not run on {'CPU-only machines' if device == 'cpu' else 'GPUs'}")
    if model.format not in spec.formats and not (model.format == "unknown" and "safetensors" in spec.formats):
        return None, ("not_applicable", f"{name} does not load {model.format} checkpoints")
    unlisted = not spec.serves_architecture(model.architecture)
    if unlisted and not forced:
        return None, ("not_applicable", f"{name} does not support architecture {model.architecture}")
    cc = _cc(hw)
    if cc is not None and cc < parse_version(spec.min_compute_capability):
        return None, ("compute_capability", f"{name} needs compute capability >= {spec.min_compute_capability} (this GPU: {_cc_text(cc)})")

    quant = model.quantization if model.quantization and model.quantization.method != "gguf" else None
    quant_dtypes = None
    if quant:
        if device == "cpu" and quant.method not in spec.cpu_quantization:
            return None, ("quantization", f"{name} has no CPU kernels for {quant.method}")
        support = spec.quantization.get(quant.method)
        if support is None:
            return None, ("not_applicable", f"{name} does not support {quant.method} checkpoints")
        if cc is not None and cc < parse_version(support.min_cc):
            return None, ("quantization", f"{quant.method} kernels in {name} need compute capability >= {support.min_cc} (this GPU: {_cc_text(cc)})")
        quant_dtypes = support.dtypes

    dtype, notes, rejection = _choose_dtype(spec, model, hw, catalog, quant_dtypes)
    if rejection:
        return None, ("dtype", f"{name}: {rejection}")

    if device == "cuda":
        image = spec.image_for_driver(hw.cuda)
        if image is None:
            oldest = min((i.cuda for i in spec.images_for("cuda")), key=parse_version)
            return None, ("driver", f"driver supports CUDA {hw.cuda_driver_version}, older than every {name} image "
                                    f"(oldest needs CUDA {oldest})")
    else:
        images = spec.images_for("cpu")
        if not images:
            return None, ("not_applicable", f"{name} has no CPU image")
        image = images[0]
    if image.local_build:
        notes.append(f"image {image.image} is built locally, not pulled")
    if unlisted:
        notes.append(f"architecture {model.architecture} is not in modeldeploy's list for {name}: "
                     "tried because it was asked for")
    return _Setting(dtype, quant.method if quant else None, image.image, image.cuda, image.version, notes), None


def _tp_options(spec: FrameworkSpec, model: ModelFacts, n_gpus: int) -> list[int]:
    if not spec.tensor_parallel:
        return list(range(1, n_gpus + 1))
    heads = model.num_attention_heads or 1
    kv = model.num_kv_heads or heads
    options = []
    for tp in range(1, n_gpus + 1):
        if heads % tp:
            continue
        if not model.mla and (kv % tp if tp <= kv else tp % kv):
            continue
        options.append(tp)
    return options


def _memory(spec: FrameworkSpec, model: ModelFacts, hw: HardwareFacts, setting: _Setting, tp: int,
            utilization: float) -> tuple[MemoryMath, int]:
    """Memory arithmetic for `tp` devices; returns (math, weights bytes total)."""
    on_gpu = bool(hw.gpus)
    dtype_bytes = mm.DTYPE_BYTES.get(setting.dtype or "float16", 2)
    if model.quantization:
        weights = model.weight_bytes or 0
    else:
        weights = (model.param_count or 0) * dtype_bytes
    kv_bytes = 2 if model.format == "gguf" else dtype_bytes
    mem = spec.memory
    if on_gpu:
        usable = min(g.memory_total_mib for g in hw.gpus[:tp]) * 1024**2 * utilization
        split = tp
    else:
        usable = hw.memory_total_mib * 1024**2 * mem.cpu_ram_share
        split = 1
    act_bytes = 2 if (setting.dtype or "float16") != "float32" else 4
    activation = mm.activation_bytes(model, mem.max_num_batched_tokens, mem.max_num_seqs,
                                     tp if spec.tensor_parallel else 1, act_bytes)
    overhead = (mem.overhead_gib + (mem.tp_overhead_gib if tp > 1 else 0)) * mm.GIB if on_gpu else 0.5 * mm.GIB
    per_token = mm.kv_bytes_per_token(model, kv_bytes)
    if spec.tensor_parallel:
        per_token_dev = mm.kv_bytes_per_token_per_gpu(model, kv_bytes, tp)
    else:
        per_token_dev = -(-per_token // split)  # layers are split across devices
    budget = usable - weights / split - activation - overhead
    tokens = mm.tokens_that_fit(budget, per_token_dev)
    unit = "GPU" if on_gpu else "host"
    lines = [
        f"usable per {unit}: {mm.gib(usable / utilization if on_gpu else usable / mem.cpu_ram_share)} GiB x "
        f"{utilization if on_gpu else mem.cpu_ram_share} = {mm.gib(usable)} GiB",
        f"weights: {mm.gib(weights)} GiB total / {split} = {mm.gib(weights / split)} GiB per {unit}",
        f"activations ({mem.max_num_batched_tokens} batched tokens, {mem.max_num_seqs} seqs of logits): {mm.gib(activation)} GiB; "
        f"runtime overhead: {mm.gib(overhead)} GiB",
        f"KV budget: {mm.gib(usable)} - {mm.gib(weights / split)} - {mm.gib(activation)} - {mm.gib(overhead)} = {mm.gib(budget)} GiB",
        f"KV per token: {per_token} B ({'MLA latent' if model.mla else f'2 x {model.num_layers} layers x {model.num_kv_heads} kv heads x {model.head_dim} x {kv_bytes} B'})"
        f", {per_token_dev} B per {unit}",
        f"context that fits: {mm.gib(max(budget, 0))} GiB / {per_token_dev} B = {tokens} tokens",
    ]
    math_ = MemoryMath(
        device="gpu" if on_gpu else "cpu",
        devices_used=split,
        usable_gib_per_device=mm.gib(usable),
        memory_utilization=utilization if on_gpu else mem.cpu_ram_share,
        weights_gib_total=mm.gib(weights),
        weights_gib_per_gpu=mm.gib(weights / split),
        activation_gib_per_gpu=mm.gib(activation),
        overhead_gib_per_gpu=mm.gib(overhead),
        kv_cache_gib_per_gpu=mm.gib(max(budget, 0)),
        kv_bytes_per_token=per_token,
        kv_bytes_per_token_per_gpu=per_token_dev,
        kv_tokens_per_gpu=tokens,
        lines=lines,
    )
    return math_, weights


def _utilization(spec: FrameworkSpec, hw: HardwareFacts, tp: int, notes: list[str]) -> float:
    """The framework's utilization, lowered when other processes already hold GPU memory."""
    util = spec.memory.utilization
    if not hw.gpus:
        return util
    free_share = min(g.memory_free_mib / g.memory_total_mib for g in hw.gpus[:tp])
    if free_share < util:
        lowered = round(max(free_share - MIN_FREE_MARGIN, 0.0), 2)
        notes.append(f"only {free_share:.0%} of GPU memory is free (other processes hold the rest): "
                     f"utilization lowered to {lowered}")
        return lowered
    return util


def _evaluate(spec: FrameworkSpec, model: ModelFacts, hw: HardwareFacts, request: DeployRequest,
              catalog: Catalog) -> list[Candidate]:
    """All candidates of one framework: feasible ones, or a single rejected one saying why."""
    device = "cuda" if hw.gpus else "cpu"
    setting, why_not = _setting(spec, model, hw, catalog, forced=request.framework == spec.name)
    if setting is None:
        return [Candidate(framework=spec.name, device=device, feasible=False, blocker=why_not[0], reasons=[why_not[1]])]
    need = required_context(model, request)
    target = request.max_model_len or native_context(model)
    if target > native_context(model):
        return [Candidate(framework=spec.name, device=device, feasible=False, blocker="context", reasons=[
            f"requested max_model_len {target} exceeds the model's max_position_embeddings {native_context(model)}"
            " (needs rope scaling in the config)"])]

    n_gpus = min(len(hw.gpus), request.max_gpus or len(hw.gpus)) if hw.gpus else 1
    options = _tp_options(spec, model, n_gpus) if hw.gpus else [1]
    if not options:
        return [Candidate(framework=spec.name, device=device, feasible=False, blocker="parallelism", reasons=[
            f"no tensor-parallel size up to {n_gpus} divides {model.num_attention_heads} attention heads "
            f"and {model.num_kv_heads} KV heads"])]
    feasible, best_rejected = [], None
    for tp in options:
        notes = list(setting.notes)
        util = _utilization(spec, hw, tp, notes)
        memory, _weights = _memory(spec, model, hw, setting, tp, util)
        limit = mm.round_context(memory.kv_tokens_per_gpu)
        cand = Candidate(
            framework=spec.name, framework_version=setting.version, image=setting.image, image_cuda=setting.image_cuda,
            device=device, tensor_parallel_size=tp if spec.tensor_parallel else 1, gpus=tp if hw.gpus else 0,
            dtype=setting.dtype, quantization=setting.quantization, max_model_len=min(target, limit),
            max_model_len_limit=limit, trust_remote_code=model.trust_remote_code, memory=memory, reasons=notes,
        )
        if memory.kv_cache_gib_per_gpu <= 0:
            cand.feasible, cand.blocker = False, "memory"
            cand.reasons.insert(0, f"weights and activations exceed memory on {tp} device(s): "
                                f"{memory.weights_gib_per_gpu} + {memory.activation_gib_per_gpu} + "
                                f"{memory.overhead_gib_per_gpu} GiB > {memory.usable_gib_per_device} GiB")
        elif limit < need:
            cand.feasible, cand.blocker = False, "memory"
            cand.reasons.insert(0, f"KV budget holds {limit} tokens on {tp} device(s), less than the required {need}")
        if cand.feasible:
            if model.trust_remote_code:
                cand.reasons.append("needs --trust-remote-code: the model's own code runs in the server; a person must approve")
            if limit < target:
                cand.reasons.append(f"max_model_len capped from {target} to {cand.max_model_len}: that is what the KV budget holds")
            feasible.append(cand)
        elif best_rejected is None or cand.memory.kv_cache_gib_per_gpu > best_rejected.memory.kv_cache_gib_per_gpu:
            best_rejected = cand
    if feasible:
        longest = max(feasible, key=lambda c: c.max_model_len)
        first = feasible[0]
        if longest.max_model_len > first.max_model_len:
            first.reasons.append(f"TP={longest.tensor_parallel_size} would allow max_model_len {longest.max_model_len}")
        return feasible
    return [best_rejected]


def _candidates(model: ModelFacts, hw: HardwareFacts, request: DeployRequest, catalog: Catalog) -> tuple[list[Candidate], list[Candidate]]:
    feasible, rejected = [], []
    for spec in sorted(catalog.frameworks.values(), key=lambda s: (s.rank, s.name)):
        for cand in _evaluate(spec, model, hw, request, catalog):
            (feasible if cand.feasible else rejected).append(cand)
    return feasible, rejected


MAX_GPUS_PER_NODE = 8
def _primary_blockers(rejected: list[Candidate], catalog: Catalog) -> set[str]:
    """What blocks the best-ranked frameworks that apply to this model at all."""
    applicable = [c for c in rejected if c.blocker != "not_applicable"]
    if not applicable:
        return set()
    best = min(catalog.get(c.framework).rank for c in applicable)
    return {c.blocker for c in applicable if catalog.get(c.framework).rank == best}


def _where(c: Candidate) -> str:
    return f"{c.gpus} GPU(s)" if c.device == "cuda" else "the CPU"


def _alternatives(model: ModelFacts, hw: HardwareFacts, request: DeployRequest, catalog: Catalog,
                  rejected: list[Candidate]) -> list[str]:
    """Nearest feasible changes: more GPUs, a quantized variant, a shorter context, other hardware or driver."""
    out: list[str] = []
    blockers = _primary_blockers(rejected, catalog)
    if "memory" in blockers:
        if hw.gpus:
            start = len(hw.gpus) if request.max_gpus is None else min(request.max_gpus, len(hw.gpus))
            found_more = None
            for count in range(start + 1, MAX_GPUS_PER_NODE + 1):
                bigger = hw.model_copy(update={"gpus": [hw.gpus[0]] * count})
                found, _ = _candidates(model, bigger, request.model_copy(update={"max_gpus": None}), catalog)
                # a tensor-parallel server beats the transformers fallback on fewer GPUs
                best = next((c for c in found if catalog.get(c.framework).tensor_parallel), None)
                if best or (found and not found_more):
                    found_more = (count, best or found[0])
                if best:
                    break
            if found_more:
                count, c = found_more
                allow = f" (allow them with --max-gpus {count})" if count <= len(hw.gpus) else ""
                out.append(f"more GPUs: {count}x {hw.gpus[0].name} with {c.framework} TP={c.tensor_parallel_size}, "
                           f"max_model_len {c.max_model_len}{allow}")
            else:
                out.append(f"more than {MAX_GPUS_PER_NODE} GPUs of this kind: multi-node pipeline parallelism")
        if not model.quantization and model.format != "gguf" and model.param_count:
            q_bytes = mm.quantized_weight_bytes(model)
            for method in ("awq", "gptq"):
                quantized = model.model_copy(update={"quantization": Quantization(method=method, bits=4, group_size=128),
                                                     "weight_bytes": q_bytes, "torch_dtype": "float16"})
                found, q_rejected = _candidates(quantized, hw, request, catalog)
                if found:
                    break
            if found:
                c = found[0]
                out.append(f"a 4-bit {method.upper()} variant (~{mm.gib(q_bytes)} GiB of weights) fits: {c.framework} "
                           f"on {_where(c)}, max_model_len {c.max_model_len}")
            else:
                why = next((r for c in q_rejected if c.blocker != "not_applicable" for r in c.reasons), "")
                out.append(f"a 4-bit AWQ/GPTQ variant (~{mm.gib(q_bytes)} GiB of weights) does not fit either"
                           + (f" ({why})" if why else "") + "; a GGUF Q4 with llama.cpp partial offload is slow but runs")
        limits = [c.max_model_len_limit for c in rejected
                  if c.memory and c.memory.kv_cache_gib_per_gpu > 0 and c.max_model_len_limit >= 256]
        if limits:
            out.append(f"a shorter context: at most {max(limits)} tokens fit (--max-model-len {max(limits)})")
    cc = _cc(hw)
    if cc and cc < (8, 0) and (model.family or "") in catalog.families.refuses_fp16:
        out.append("a GPU with compute capability >= 8.0 (A100, L4, A10, RTX 30xx/40xx, H100) to run in bfloat16")
    if model.quantization and "quantization" in blockers:
        out.append(f"a variant whose kernels this GPU has: the unquantized checkpoint, GPTQ (cc >= 6.0), "
                   f"or a GGUF file with llama.cpp, instead of {model.quantization.method}")
    if "driver" in blockers:
        oldest = min(parse_version(i.cuda) for spec in catalog.frameworks.values() for i in spec.images_for("cuda"))
        out.append(f"upgrade the NVIDIA driver to one supporting CUDA >= {'.'.join(map(str, oldest))}")
    if "parallelism" in blockers:
        out.append("pipeline parallelism, or one replica per GPU, when no TP size divides the heads")
    return out


def _ordered_reasons(rejected: list[Candidate]) -> list[str]:
    """Why candidates were rejected: blocking reasons first, 'not applicable' ones last."""
    ordered = sorted(rejected, key=lambda c: c.blocker == "not_applicable")
    return [f"{c.framework}: {c.reasons[0]}" for c in ordered if c.reasons]


def plan_deployment(model: ModelFacts, hw: HardwareFacts, request: DeployRequest, catalog: Catalog | None = None) -> Plan:
    """Rank every feasible way to serve `model` on `hw`; explain the rest."""
    catalog = catalog or load_catalog()
    if request.framework and request.framework not in catalog.frameworks:
        from modeldeploy.errors import UserInputError

        raise UserInputError(f"unknown framework {request.framework!r} (known: {', '.join(catalog.frameworks)})")
    if not model.num_layers or not model.num_attention_heads:
        return Plan(feasible=False, reasons=["model facts lack layers/heads: cannot compute memory"])
    feasible, rejected = _candidates(model, hw, request, catalog)
    if request.framework:
        forced = [c for c in feasible if c.framework == request.framework]
        others = [c for c in feasible if c.framework != request.framework]
        rejected = [c for c in rejected if c.framework == request.framework] or rejected
        if not forced:
            reasons = _ordered_reasons([c for c in rejected if c.framework == request.framework])
            alts = [f"{c.framework} is feasible: TP={c.tensor_parallel_size}, {c.dtype or c.quantization}, "
                    f"max_model_len {c.max_model_len}" for c in others[:2]]
            return Plan(feasible=False, rejected=rejected, reasons=reasons,
                        alternatives=alts or _alternatives(model, hw, request, catalog, rejected),
                        required_context=required_context(model, request))
        feasible = forced
    if not feasible:
        reasons = _ordered_reasons(rejected)
        return Plan(feasible=False, rejected=rejected, reasons=reasons,
                    alternatives=_alternatives(model, hw, request, catalog, rejected),
                    required_context=required_context(model, request))
    return Plan(feasible=True, candidates=feasible, rejected=rejected,
                reasons=_ordered_reasons(rejected), required_context=required_context(model, request))

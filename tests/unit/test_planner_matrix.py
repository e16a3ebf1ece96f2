"""Plans for real popular models (config.json fixtures) on recorded machines: what an expert signs off."""

from __future__ import annotations

import glob
from pathlib import Path

import pytest

from modeldeploy.schemas.run import DeployRequest
from modeldeploy.tools.planning.planner import plan_deployment

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ALL_MODELS = sorted(Path(p).name for p in glob.glob(str(FIXTURES / "models" / "*" / "config.json")) for p in [Path(p).parent])
ALL_MACHINES = sorted(Path(p).stem for p in glob.glob(str(FIXTURES / "machines" / "*.json")))


def _plan(model_facts, machine, model, hw, **request):
    return plan_deployment(model_facts(model), machine(hw), DeployRequest(model=model, **request))


FEASIBLE = [
    # model, machine, request, framework, tp, dtype, max_model_len (None: capped below native)
    ("llama-3.1-8b-instruct", "a100-80gb-x1", {}, "vllm", 1, "bfloat16", 131072),
    ("llama-3.1-8b-instruct", "h100-80gb-x2", {}, "vllm", 1, "bfloat16", 131072),
    ("llama-3.1-8b-instruct", "l4-x1", {}, "vllm", 1, "bfloat16", None),
    ("llama-3.1-8b-instruct", "rtx4090-x1", {}, "vllm", 1, "bfloat16", None),
    ("llama-3.1-8b-instruct", "t4-x2", {}, "vllm", 2, "float16", None),
    ("llama-3.1-8b-instruct", "v100-x2", {}, "vllm", 2, "float16", None),
    ("llama-3.1-70b-instruct", "a100-80gb-x4", {}, "vllm", 2, "bfloat16", None),
    ("llama-3.1-70b-instruct", "a100-80gb-x4", {"max_model_len": 131072}, "vllm", 4, "bfloat16", 131072),
    ("llama-3.1-70b-instruct", "h100-80gb-x8", {}, "vllm", 2, "bfloat16", None),
    ("qwen2.5-7b-instruct", "t4-x2", {}, "vllm", 2, "float16", 32768),
    ("qwen2.5-7b-instruct", "l4-x1", {}, "vllm", 1, "bfloat16", 32768),
    ("qwen2.5-72b-instruct", "h100-80gb-x2", {}, "vllm", 2, "bfloat16", None),
    ("qwen2.5-72b-instruct", "a100-80gb-x4", {"max_model_len": 32768}, "vllm", 4, "bfloat16", 32768),
    ("mixtral-8x7b-instruct", "a100-80gb-x4", {}, "vllm", 2, "bfloat16", 32768),
    ("deepseek-v2-lite-chat", "a100-80gb-x1", {}, "vllm", 1, "bfloat16", 163840),
    ("gemma-2-9b-it", "a100-80gb-x1", {}, "vllm", 1, "bfloat16", 8192),
    ("phi-3-mini-4k-instruct", "t4-x1", {}, "vllm", 1, "float16", 4096),
    ("phi-3-mini-4k-instruct", "v100-x1", {}, "vllm", 1, "float16", 4096),
    ("qwen2.5-7b-instruct-awq", "t4-x1", {}, "vllm", 1, "float16", 32768),
    ("qwen2.5-7b-instruct-gptq-int4", "v100-x1", {}, "vllm", 1, "float16", 32768),
    ("llama-3.1-8b-instruct-fp8", "h100-80gb-x2", {}, "vllm", 1, "bfloat16", 131072),
    ("internlm2_5-7b-chat", "a100-80gb-x1", {}, "vllm", 1, "bfloat16", 32768),
]


@pytest.mark.parametrize("model,hw,request_,framework,tp,dtype,length", FEASIBLE,
                         ids=[f"{m}@{h}{'+' + str(r) if r else ''}" for m, h, r, *_ in FEASIBLE])
def test_feasible_plan_matches_expert(model_facts, machine, model, hw, request_, framework, tp, dtype, length):
    plan = _plan(model_facts, machine, model, hw, **request_)
    assert plan.feasible, plan.reasons
    best = plan.candidates[0]
    assert (best.framework, best.tensor_parallel_size, best.dtype) == (framework, tp, dtype)
    facts = model_facts(model)
    if length is None:  # capped to what the KV budget holds, below the model's own context
        assert best.max_model_len < facts.max_position_embeddings
        assert best.max_model_len == best.max_model_len_limit
        assert any("capped" in r for r in best.reasons)
    else:
        assert best.max_model_len == length


def test_smallest_tp_is_chosen_and_larger_tp_is_offered_for_longer_context(model_facts, machine):
    plan = _plan(model_facts, machine, "llama-3.1-70b-instruct", "a100-80gb-x4")
    tps = [c.tensor_parallel_size for c in plan.candidates if c.framework == "vllm"]
    assert tps == [2, 4]  # TP=1 cannot hold 131 GiB of weights; TP=3 does not divide 64 heads / 8 KV heads
    assert any("TP=4 would allow max_model_len 131072" in r for r in plan.candidates[0].reasons)


@pytest.mark.parametrize("hw", ["t4-x1", "t4-x2", "v100-x1", "v100-x2"])
def test_gemma2_below_cc80_is_infeasible_because_fp16_is_refused_and_fp32_does_not_fit(model_facts, machine, hw):
    plan = _plan(model_facts, machine, "gemma-2-9b-it", hw)
    assert not plan.feasible
    vllm = next(c for c in plan.rejected if c.framework == "vllm")
    assert vllm.dtype == "float32" and vllm.blocker == "memory"
    assert any("refuses float16" in r for r in vllm.reasons)
    assert any("compute capability >= 8.0" in a for a in plan.alternatives)


def test_70b_on_one_24gb_gpu_is_infeasible_with_alternatives(model_facts, machine):
    plan = _plan(model_facts, machine, "llama-3.1-70b-instruct", "rtx4090-x1")
    assert not plan.feasible and not plan.candidates
    assert plan.reasons[0].startswith("vllm: weights and activations exceed memory")
    assert any(a.startswith("more GPUs: 8x NVIDIA GeForce RTX 4090 with vllm TP=8") for a in plan.alternatives)
    assert any("4-bit" in a for a in plan.alternatives)


def test_max_gpus_limit_makes_70b_infeasible_and_says_how_many_it_needs(model_facts, machine):
    plan = _plan(model_facts, machine, "llama-3.1-70b-instruct", "a100-80gb-x4", max_gpus=1)
    assert not plan.feasible
    assert any("--max-gpus 2" in a for a in plan.alternatives)


def test_requested_context_that_does_not_fit_offers_the_longest_that_does(model_facts, machine):
    plan = _plan(model_facts, machine, "llama-3.1-8b-instruct", "l4-x1", max_model_len=131072)
    assert not plan.feasible
    shorter = next(a for a in plan.alternatives if a.startswith("a shorter context"))
    limit = int(shorter.split("at most ")[1].split()[0])
    assert 4096 < limit < 131072


def test_context_beyond_max_position_embeddings_is_refused(model_facts, machine):
    plan = _plan(model_facts, machine, "phi-3-mini-4k-instruct", "a100-80gb-x1", max_model_len=8192)
    assert not plan.feasible
    assert any("max_position_embeddings 4096" in r for r in plan.reasons)


def test_awq_on_v100_is_refused_with_a_kernel_reason_and_a_gptq_alternative(model_facts, machine):
    plan = _plan(model_facts, machine, "qwen2.5-7b-instruct-awq", "v100-x1")
    assert not plan.feasible
    assert "awq kernels in vLLM need compute capability >= 7.5" in plan.reasons[0]
    assert any("GPTQ" in a for a in plan.alternatives)


def test_fp8_checkpoint_needs_ada_or_hopper(model_facts, machine):
    assert not _plan(model_facts, machine, "llama-3.1-8b-instruct-fp8", "a100-80gb-x1").feasible
    assert _plan(model_facts, machine, "llama-3.1-8b-instruct-fp8", "l4-x1").feasible


def test_old_driver_gets_an_upgrade_alternative(model_facts, machine):
    plan = _plan(model_facts, machine, "llama-3.1-8b-instruct", "old-driver-a100")
    assert not plan.feasible
    assert "driver supports CUDA 11.4" in plan.reasons[0]
    assert any(a.startswith("upgrade the NVIDIA driver") for a in plan.alternatives)


def test_image_is_the_newest_whose_cuda_the_driver_supports(model_facts, machine):
    h100_126 = _plan(model_facts, machine, "llama-3.1-8b-instruct", "h100-80gb-x8").candidates[0]
    t4_122 = _plan(model_facts, machine, "llama-3.1-8b-instruct", "t4-x2").candidates[0]
    assert h100_126.image_cuda == "12.4" and t4_122.image_cuda == "12.1"


def test_trust_remote_code_is_flagged_for_custom_code_but_not_for_native_phi3(model_facts, machine):
    internlm = _plan(model_facts, machine, "internlm2_5-7b-chat", "a100-80gb-x1").candidates[0]
    phi3 = _plan(model_facts, machine, "phi-3-mini-4k-instruct", "a100-80gb-x1").candidates[0]
    assert internlm.trust_remote_code and any("approve" in r for r in internlm.reasons)
    assert not phi3.trust_remote_code


def test_mla_kv_cache_is_the_latent_not_the_heads(model_facts, machine):
    best = _plan(model_facts, machine, "deepseek-v2-lite-chat", "a100-80gb-x1").candidates[0]
    assert best.memory.kv_bytes_per_token == 27 * (512 + 64) * 2


def test_cpu_only_machine_gets_a_cpu_capable_framework(model_facts, machine):
    plan = _plan(model_facts, machine, "llama-3.1-8b-instruct", "cpu-only")
    assert plan.feasible
    assert {c.framework for c in plan.candidates} <= {"vllm", "llama.cpp", "transformers"}
    assert all(c.device == "cpu" and c.gpus == 0 for c in plan.candidates)
    assert not _plan(model_facts, machine, "llama-3.1-70b-instruct", "cpu-only").feasible


@pytest.mark.parametrize("hw", ["rtx4090-x1", "cpu-only", "h100-80gb-x2"])
def test_gguf_goes_to_llama_cpp(tmp_path, machine, hw):
    from gguf_factory import write_tiny_gguf

    from modeldeploy.tools.model_inspect.inspect import inspect_model

    path = write_tiny_gguf(tmp_path / "tiny-q8.gguf", context_length=4096)
    facts = inspect_model(str(path))
    plan = plan_deployment(facts, machine(hw), DeployRequest(model=str(path)))
    assert plan.feasible
    assert [c.framework for c in plan.candidates] and {c.framework for c in plan.candidates} == {"llama.cpp"}
    best = plan.candidates[0]
    assert best.device == ("cpu" if hw == "cpu-only" else "cuda")
    assert best.max_model_len == 4096


@pytest.mark.parametrize("hw", ALL_MACHINES)
@pytest.mark.parametrize("model", ALL_MODELS)
def test_every_plan_keeps_the_hard_rules(model_facts, machine, model, hw):
    facts, machine_ = model_facts(model), machine(hw)
    plan = plan_deployment(facts, machine_, DeployRequest(model=model))
    assert plan.feasible == bool(plan.candidates)
    if not plan.feasible:
        assert plan.reasons and all(":" in r for r in plan.reasons)
    cc = min((g.capability for g in machine_.gpus), default=None)
    for c in plan.candidates:
        heads, kv = facts.num_attention_heads, facts.num_kv_heads
        assert heads % c.tensor_parallel_size == 0
        if not facts.mla:
            assert kv % c.tensor_parallel_size == 0 or c.tensor_parallel_size % kv == 0
        assert 0 < c.max_model_len <= c.max_model_len_limit <= c.memory.kv_tokens_per_gpu
        assert c.max_model_len <= facts.max_position_embeddings
        if cc is not None and cc < (8, 0):
            assert c.dtype != "bfloat16"
        if facts.family in ("gemma2", "gemma3"):
            assert c.dtype != "float16"
        if not machine_.gpus:
            assert c.device == "cpu"
        else:
            assert c.gpus <= len(machine_.gpus) and c.image_cuda is not None
            assert tuple(int(x) for x in c.image_cuda.split(".")) <= machine_.cuda
        m = c.memory
        total = m.weights_gib_per_gpu + m.activation_gib_per_gpu + m.overhead_gib_per_gpu + m.kv_cache_gib_per_gpu
        assert total == pytest.approx(m.usable_gib_per_device, abs=0.05)

"""From a real plan to manifests: launch argv from the catalog template, env, the Docker run spec, compose and
Kubernetes YAML, deployment names. Decisions come from plan_deployment on fixtures through slots_for/decision_from."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import gguf
import pytest
import yaml
from gguf_factory import write_tiny_gguf
from langgraph.runtime import Runtime
from pydantic import ValidationError

from modeldeploy.catalog import load_catalog
from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployState
from modeldeploy.nodes.render_manifest import render_manifest, startup_minutes
from modeldeploy.schemas.decision import Decision
from modeldeploy.schemas.run import DeployRequest
from modeldeploy.tools.manifests.compose import compose_yaml
from modeldeploy.tools.manifests.docker_spec import docker_run_spec
from modeldeploy.tools.manifests.kubernetes import kubernetes_yaml
from modeldeploy.tools.manifests.launch_args import (LaunchValues, container_model_path, deployment_name, render_args,
                                                     render_env)
from modeldeploy.tools.model_inspect.inspect import inspect_model
from modeldeploy.tools.planning.decide import decision_from, slots_for
from modeldeploy.tools.planning.planner import plan_deployment

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "models" / "tiny-llama"
DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
K8S_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
VALUES = LaunchValues(model_path="/models/m", served_model_name="served", port=8000)
GPU_FLAGS = {"--tensor-parallel-size", "--gpu-memory-utilization", "-ngl", "--tp-size", "--num-shard"}


def _plan(facts, hw, **request):
    plan = plan_deployment(facts, hw, DeployRequest(model=facts.source.ref, **request))
    assert plan.feasible, plan.reasons
    return plan


def _decision(facts, hw, framework: str | None = None, **request) -> Decision:
    """The rules' decision for the best candidate (of `framework`, when given) of a real plan."""
    plan = _plan(facts, hw, **request)
    cand = next(c for c in plan.candidates if framework in (None, c.framework))
    decision = decision_from(cand, "rules", "test")
    assert decision.slots == slots_for(cand)
    return decision


def _with_slots(decision: Decision, **update) -> Decision:
    return decision.model_copy(update={"slots": decision.slots.model_copy(update=update)})


def _args(decision: Decision, values: LaunchValues = VALUES) -> list[str]:
    return render_args(load_catalog().get(decision.framework), decision, values)


def _flags(argv: list[str]) -> list[str]:
    return [a for a in argv if a.startswith("-")]


@pytest.fixture(autouse=True)
def _no_registry_mirrors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Images as the catalog names them (the node rewrites them when mirrors are configured)."""
    monkeypatch.delenv("MODELDEPLOY_REGISTRY_MIRRORS", raising=False)


@pytest.fixture
def tiny_gguf(tmp_path: Path) -> Path:
    return write_tiny_gguf(tmp_path / "gguf" / "tiny-q8_0.gguf", file_type=gguf.LlamaFileType.MOSTLY_Q8_0)


# --------------------------------------------------------------------------- launch argv


def test_vllm_gpu_argv_is_the_catalog_template_filled_with_slot_values(model_facts, machine):
    d = _decision(model_facts("llama-3.1-8b-instruct"), machine("t4-x2"))
    s = d.slots
    assert (d.framework, d.device, s.tensor_parallel_size, s.dtype, s.quantization) == ("vllm", "cuda", 2, "float16", None)
    assert _args(d) == [
        "--model", "/models/m", "--served-model-name", "served", "--host", "0.0.0.0", "--port", "8000",
        "--dtype", "float16", "--max-model-len", str(s.max_model_len), "--tensor-parallel-size", "2",
        "--gpu-memory-utilization", str(s.gpu_memory_utilization),
    ]
    assert "--quantization" not in _args(d)
    assert "--trust-remote-code" not in _args(d)
    assert "--kv-cache-dtype" not in _args(d)  # "auto" is the server's default: left out


def test_vllm_awq_decision_passes_quantization(model_facts, machine):
    d = _decision(model_facts("qwen2.5-7b-instruct-awq"), machine("t4-x1"))
    argv = _args(d)
    assert argv[argv.index("--quantization") + 1] == "awq"
    assert argv[argv.index("--dtype") + 1] == "float16"


@pytest.mark.parametrize("model,hw,expected", [("internlm2_5-7b-chat", "a100-80gb-x1", True),
                                               ("phi-3-mini-4k-instruct", "t4-x1", False),
                                               ("llama-3.1-8b-instruct", "a100-80gb-x1", False)],
                         ids=["internlm-custom-code", "phi3-native", "llama"])
def test_trust_remote_code_switch_follows_the_slot(model_facts, machine, model, hw, expected):
    d = _decision(model_facts(model), machine(hw))
    assert d.slots.trust_remote_code is expected
    assert ("--trust-remote-code" in _args(d)) is expected
    # the switch follows the slot, not the model: flipping the slot flips the flag
    assert ("--trust-remote-code" in _args(_with_slots(d, trust_remote_code=not expected))) is (not expected)


def test_kv_cache_dtype_fp8_and_enforce_eager_are_rendered_when_set(model_facts, machine):
    d = _with_slots(_decision(model_facts("llama-3.1-8b-instruct"), machine("h100-80gb-x2")),
                    kv_cache_dtype="fp8", enforce_eager=True, max_num_seqs=64)
    argv = _args(d)
    assert argv[argv.index("--kv-cache-dtype") + 1] == "fp8"
    assert argv[argv.index("--max-num-seqs") + 1] == "64"
    assert "--enforce-eager" in argv


@pytest.mark.parametrize(
    "extra,kept",
    [
        (["--enable-prefix-caching"], ["--enable-prefix-caching"]),
        (["--foo; rm -rf /"], []),
        (["--enable-prefix-caching; rm -rf /"], []),
        (["--enable-prefix-caching=false"], []),
        (["--trust-remote-code"], []),  # a template switch is not an extra flag
        (["--enable-metrics"], []),  # SGLang's allow-list, not vLLM's
        (["$(reboot)", "--disable-log-requests", "--port 1"], ["--disable-log-requests"]),
    ],
    ids=["allowed", "shell-injection", "allowed-prefix-plus-injection", "allowed-with-value", "template-switch",
         "other-framework-flag", "mixed"],
)
def test_extra_flags_only_from_the_allow_list(model_facts, machine, extra, kept):
    d = _decision(model_facts("llama-3.1-8b-instruct"), machine("a100-80gb-x1"))
    base = _args(d)
    argv = _args(_with_slots(d, extra_flags=extra))
    assert argv == base + kept
    assert not any(";" in a or "$" in a or " " in a for a in argv)


def test_cpu_decision_for_the_tiny_model(machine):
    facts = inspect_model(str(TINY))
    d = _decision(facts, machine("cpu-only"))
    assert (d.framework, d.device, d.slots.gpus) == ("vllm", "cpu", 0)
    assert d.slots.kv_cache_space_gib is not None and d.slots.kv_cache_space_gib >= 1
    argv = _args(d)
    assert not GPU_FLAGS & set(argv)
    assert argv[argv.index("--max-model-len") + 1] == str(d.slots.max_model_len)
    env = render_env(load_catalog().get("vllm"), d)
    assert env["VLLM_CPU_KVCACHE_SPACE"] == str(d.slots.kv_cache_space_gib)
    assert env["HF_HUB_OFFLINE"] == "1"


def test_gpu_decision_has_no_cpu_env(model_facts, machine):
    d = _decision(model_facts("llama-3.1-8b-instruct"), machine("a100-80gb-x1"))
    assert "VLLM_CPU_KVCACHE_SPACE" not in render_env(load_catalog().get("vllm"), d)


@pytest.mark.parametrize("hw,gpu_layers", [("rtx4090-x1", "999"), ("cpu-only", None)], ids=["cuda", "cpu"])
def test_llama_cpp_gguf_decision_uses_m_c_ngl(machine, tiny_gguf, hw, gpu_layers):
    facts = inspect_model(str(tiny_gguf))
    d = _decision(facts, machine(hw))
    assert d.framework == "llama.cpp"
    argv = _args(d, LaunchValues(model_path="/models/x/tiny-q8_0.gguf", served_model_name="tiny", port=8080))
    assert argv[argv.index("-m") + 1] == "/models/x/tiny-q8_0.gguf"
    assert argv[argv.index("-c") + 1] == str(d.slots.max_model_len) == "2048"
    assert argv[argv.index("--alias") + 1] == "tiny"
    if gpu_layers:
        assert argv[argv.index("-ngl") + 1] == gpu_layers
    else:
        assert "-ngl" not in argv
    assert "--metrics" in argv and "--jinja" in argv
    assert not {"--model", "--dtype", "--tensor-parallel-size"} & set(argv)


@pytest.mark.parametrize(
    "framework,expected_flags",
    [
        ("sglang", ["--model-path", "--served-model-name", "--host", "--port", "--dtype", "--context-length",
                    "--tp-size", "--mem-fraction-static"]),
        ("tgi", ["--model-id", "--hostname", "--port", "--dtype", "--max-total-tokens", "--num-shard",
                 "--cuda-memory-fraction"]),
        ("transformers", ["--host", "--port", "--dtype", "--log-level", "--continuous-batching"]),
    ],
    ids=["sglang", "tgi", "transformers"],
)
def test_other_frameworks_use_their_own_template(model_facts, machine, framework, expected_flags):
    d = _decision(model_facts("llama-3.1-8b-instruct"), machine("a100-80gb-x1"), framework=framework)
    argv = _args(d)
    assert _flags(argv) == expected_flags
    if framework == "transformers":  # transformers 5: the model is positional, first
        assert argv[0].startswith("/models/")


def test_transformers_on_cpu_names_the_device_and_leaves_out_continuous_batching(model_facts, machine):
    d = _decision(model_facts("llama-3.1-8b-instruct"), machine("cpu-only"), framework="transformers")
    argv = _args(d)
    assert argv[argv.index("--device") + 1] == "cpu" and "--continuous-batching" not in argv


def test_a_positional_value_that_looks_like_a_flag_is_refused(model_facts, machine):
    d = _decision(model_facts("llama-3.1-8b-instruct"), machine("cpu-only"), framework="transformers")
    with pytest.raises(ValueError, match="starts with '-'"):
        _args(d, LaunchValues(model_path="--trust-remote-code", served_model_name="x", port=8000))


PLAN_CASES = [("llama-3.1-8b-instruct", "a100-80gb-x1"), ("llama-3.1-70b-instruct", "a100-80gb-x4"),
              ("qwen2.5-7b-instruct-awq", "cpu-only"), ("internlm2_5-7b-chat", "a100-80gb-x1"),
              ("mixtral-8x7b-instruct", "a100-80gb-x4"), ("qwen2.5-7b-instruct-gptq-int4", "v100-x1")]


@pytest.mark.parametrize("model,hw", PLAN_CASES, ids=[f"{m}@{h}" for m, h in PLAN_CASES])
def test_every_candidate_renders_only_template_flags_with_slot_values(model_facts, machine, model, hw):
    plan = _plan(model_facts(model), machine(hw))
    for cand in plan.candidates:
        d = decision_from(cand, "rules", "test")
        spec = load_catalog().get(d.framework)
        argv = _args(d)
        template = {a.flag: a for a in spec.launch.args}
        flags = _flags(argv)
        assert len(flags) == len(set(flags)), argv
        assert set(flags) <= set(template), (cand.label(), argv)
        slots = d.slots.model_dump()
        for flag in flags:
            arg = template[flag]
            assert arg.device in (None, d.device), (cand.label(), flag)
            if not arg.switch and arg.slot in slots:
                assert argv[argv.index(flag) + 1] == str(slots[arg.slot]), (cand.label(), flag)
        if d.device == "cpu":
            assert not GPU_FLAGS & set(flags)



@pytest.mark.parametrize("framework,flag", [("sglang", "--chunked-prefill-size"), ("tgi", "--max-batch-prefill-tokens")])
def test_flags_that_need_a_value_are_not_allowed_as_extra_flags(framework, flag):
    # extra flags are rendered bare, so only switches may be on the allow-list
    assert flag not in load_catalog().get(framework).allowed_extra_flags


# --------------------------------------------------------------------------- deployment names


@pytest.mark.parametrize(
    "model_name,framework",
    [("Qwen2.5-7B-Instruct", "vllm"), ("tiny", "llama.cpp"), ("../../Evil Name!!", "vllm"),
     ("x" * 300, "transformers"), ("UPPER_case.and_dots", "sglang"), ("", "vllm"), ("---", "tgi"),
     ("名前 モデル", "vllm"), ("a" * 55 + "-", "vllm")],
    ids=["normal", "llama-cpp-dot", "traversal", "300-chars", "upper-underscore-dots", "empty", "dashes",
         "non-ascii", "dash-at-cut"],
)
def test_deployment_name_is_dns_1123_and_deterministic(model_name, framework):
    name = deployment_name(model_name, framework, f"{model_name}|{framework}|1")
    assert len(name) <= 63
    assert DNS_1123_LABEL.match(name), name
    assert name.startswith("md-")
    assert name == deployment_name(model_name, framework, f"{model_name}|{framework}|1")
    assert name != deployment_name(model_name, framework, f"{model_name}|{framework}|2")


def test_container_model_path():
    assert container_model_path("/data/Qwen2.5-7B", "md-q-vllm-abc123", is_file=False) == "/models/md-q-vllm-abc123"
    assert container_model_path("/data/g/tiny.gguf", "md-t-llama-cpp-abc123", is_file=True) == \
        "/models/md-t-llama-cpp-abc123/tiny.gguf"


# --------------------------------------------------------------------------- Docker run spec, compose, Kubernetes


def _spec(gpus: int, **overrides):
    kwargs = dict(name="md-m-vllm-abc123", image="vllm/vllm-openai:v0.8.5", entrypoint=None,
                  args=["--model", "/models/md-m-vllm-abc123"], env={"HF_HUB_OFFLINE": "1"}, container_port=8000,
                  host_port=18000, weights_host_path="/data/models/m", weights_mount="/models/md-m-vllm-abc123",
                  gpus=gpus, labels={"deployment": "md-m-vllm-abc123", "framework": "vllm", "managed": "true"})
    kwargs.update(overrides)
    return docker_run_spec(**kwargs)


@pytest.mark.parametrize("gpus", [0, 1, 2, 8], ids=lambda n: f"{n}-gpus")
def test_docker_run_spec(gpus):
    spec = _spec(gpus)
    assert spec["labels"] == {"modeldeploy.deployment": "md-m-vllm-abc123", "modeldeploy.framework": "vllm",
                              "modeldeploy.managed": "true"}
    assert spec["volumes"] == {"/data/models/m": {"bind": "/models/md-m-vllm-abc123", "mode": "ro"}}
    assert spec["ports"] == {"8000/tcp": ["127.0.0.1", 18000]}
    assert spec["init"] is True and spec["detach"] is True
    assert "entrypoint" not in spec
    if gpus:
        assert spec["device_requests"] == [{"driver": "nvidia", "count": gpus, "capabilities": [["gpu"]]}]
    else:
        assert "device_requests" not in spec
    assert ("ipc_mode" in spec) is (gpus > 1)
    if gpus > 1:
        assert spec["ipc_mode"] == "host"
    assert ("shm_size" in spec) is (gpus == 1)
    json.dumps(spec)  # JSON-ready


@pytest.mark.parametrize("gpus", [0, 1, 4], ids=lambda n: f"{n}-gpus")
def test_compose_yaml_matches_the_run_spec(gpus):
    spec = _spec(gpus, entrypoint=["python3", "-m", "sglang.launch_server"])
    doc = yaml.safe_load(compose_yaml(spec))
    service = doc["services"]["md-m-vllm-abc123"]
    assert service["image"] == "vllm/vllm-openai:v0.8.5"
    assert service["command"] == ["--model", "/models/md-m-vllm-abc123"]
    assert service["entrypoint"] == ["python3", "-m", "sglang.launch_server"]
    assert service["ports"] == ["127.0.0.1:18000:8000"]
    assert service["volumes"] == [{"type": "bind", "source": "/data/models/m", "target": "/models/md-m-vllm-abc123",
                                   "read_only": True}]
    assert service["labels"] == spec["labels"]
    assert service["environment"] == {"HF_HUB_OFFLINE": "1"}
    if gpus:
        devices = service["deploy"]["resources"]["reservations"]["devices"]
        assert devices == [{"driver": "nvidia", "count": gpus, "capabilities": ["gpu"]}]
    else:
        assert "deploy" not in service
    assert service.get("ipc") == ("host" if gpus > 1 else None)



def test_compose_volume_survives_a_colon_in_the_weights_path():
    host = "/data/models/org:model"
    service = yaml.safe_load(compose_yaml(_spec(1, weights_host_path=host)))["services"]["md-m-vllm-abc123"]
    (volume,) = service["volumes"]
    source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
    assert source == host


@pytest.mark.parametrize("gpus,weight_bytes", [(0, None), (1, 16060522496), (4, 141107412992)],
                         ids=["cpu-unknown-size", "1-gpu-16GB", "4-gpus-141GB"])
def test_kubernetes_yaml(gpus, weight_bytes):
    args = ["--model", "/models/md-m-vllm-abc123", "--port", "8000"]
    text = kubernetes_yaml(name="md-m-vllm-abc123", image="vllm/vllm-openai:v0.8.5", entrypoint=None, args=args,
                           env={"HF_HUB_OFFLINE": "1"}, container_port=8000, weights_mount="/models/md-m-vllm-abc123",
                           gpus=gpus, models_path="/v1/models",
                           labels={"deployment": "md-m-vllm-abc123", "framework": "llama.cpp", "model": "x" * 300},
                           startup_minutes=startup_minutes(weight_bytes))
    deployment, service = yaml.safe_load_all(text)
    assert (deployment["kind"], service["kind"]) == ("Deployment", "Service")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "vllm/vllm-openai:v0.8.5"
    assert container["args"] == args
    assert "command" not in container
    assert container["env"] == [{"name": "HF_HUB_OFFLINE", "value": "1"}]
    probe = container["startupProbe"]
    assert probe["httpGet"] == {"path": "/v1/models", "port": "http"}
    assert probe["failureThreshold"] >= 60
    assert probe["failureThreshold"] * probe["periodSeconds"] >= 60 * startup_minutes(weight_bytes)
    assert container["readinessProbe"]["httpGet"]["path"] == "/v1/models"
    mount = next(m for m in container["volumeMounts"] if m["name"] == "weights")
    assert mount == {"name": "weights", "mountPath": "/models/md-m-vllm-abc123", "readOnly": True}
    if gpus:
        assert container["resources"]["limits"]["nvidia.com/gpu"] == gpus
    else:
        assert "resources" not in container
    labels = deployment["metadata"]["labels"]
    assert all(K8S_LABEL_VALUE.match(v) and len(v) <= 63 for v in labels.values()), labels
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= template_labels.items()
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("weight_bytes,minutes", [(None, 10), (0, 10), (1, 11), (2 * 1024**3, 11),
                                                  (2 * 1024**3 + 1, 12), (141107412992, 10 + 66)],
                         ids=["unknown", "zero", "one-byte", "2GiB", "2GiB-plus-1", "llama-70b"])
def test_startup_minutes_grow_with_the_weights(weight_bytes, minutes):
    assert startup_minutes(weight_bytes) == minutes


# --------------------------------------------------------------------------- the node function, called directly


def _render(tmp_path: Path, facts, hw, request: DeployRequest, decision: Decision) -> tuple[dict, dict[str, str]]:
    state = DeployState(request=request, hardware=hw, model=facts, decision=decision)
    events: list[dict] = []
    runtime = Runtime(context=Context(out_dir=str(tmp_path / "out")), stream_writer=events.append)
    update = asyncio.run(render_manifest(state, runtime))
    assert [e["event"] for e in events] == ["start", "done"]
    files = {kind: Path(path).read_text() for kind, path in update["artifacts"]["manifests"].items()}
    return update["artifacts"], files


def _cases(tiny_gguf: Path, model_facts):
    return {
        "vllm-tp2": (model_facts("llama-3.1-8b-instruct"), "t4-x2"),
        "vllm-cpu-tiny": (inspect_model(str(TINY)), "cpu-only"),
        "llama-cpp-gguf": (inspect_model(str(tiny_gguf)), "rtx4090-x1"),
    }


@pytest.mark.parametrize("case", ["vllm-tp2", "vllm-cpu-tiny", "llama-cpp-gguf"])
def test_render_manifest_node_writes_consistent_manifests(tmp_path, model_facts, machine, tiny_gguf, case):
    facts, hw_name = _cases(tiny_gguf, model_facts)[case]
    hw = machine(hw_name)
    request = DeployRequest(model=facts.source.ref, port=18080)
    decision = _decision(facts, hw)
    artifacts, files = _render(tmp_path, facts, hw, request, decision)

    name, spec = artifacts["deployment_name"], artifacts["run_spec"]
    assert DNS_1123_LABEL.match(name) and len(name) <= 63
    assert set(files) == {"docker_run", "compose", "kubernetes"}
    assert json.loads(files["docker_run"]) == spec
    assert spec["image"] == decision.image
    assert spec["name"] == name
    container_port = load_catalog().get(decision.framework).port
    assert spec["ports"] == {f"{container_port}/tcp": ["127.0.0.1", 18080]}
    (host_path, volume), = spec["volumes"].items()
    assert host_path == facts.source.path
    assert volume["mode"] == "ro" and volume["bind"].startswith(f"/models/{name}")
    model_flag = "-m" if decision.framework == "llama.cpp" else "--model"
    assert spec["command"][spec["command"].index(model_flag) + 1] == volume["bind"]
    port_flag = spec["command"].index("--port")
    assert spec["command"][port_flag + 1] == str(container_port)  # the server listens on its own port inside
    assert all(k.startswith("modeldeploy.") for k in spec["labels"])
    assert ("device_requests" in spec) is (decision.slots.gpus > 0)

    service = yaml.safe_load(files["compose"])["services"][name]
    assert service["image"] == decision.image and service["command"] == spec["command"]
    deployment, _ = yaml.safe_load_all(files["kubernetes"])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == decision.image and container["args"] == spec["command"]
    assert container["startupProbe"]["httpGet"]["path"] == "/v1/models"
    assert container["startupProbe"]["failureThreshold"] >= 60
    gpus = decision.slots.gpus
    assert container.get("resources", {}).get("limits", {}).get("nvidia.com/gpu") == (gpus or None)
    assert service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [{}])[0].get("count") \
        == (gpus or None)
    if decision.device == "cpu":
        assert spec["environment"]["VLLM_CPU_KVCACHE_SPACE"] == str(decision.slots.kv_cache_space_gib)
        assert not GPU_FLAGS & set(spec["command"])
    if case == "llama-cpp-gguf":
        assert volume["bind"] == f"/models/{name}/{tiny_gguf.name}"


def test_render_manifest_node_name_is_stable_across_runs(tmp_path, model_facts, machine):
    facts, hw = model_facts("llama-3.1-8b-instruct"), machine("a100-80gb-x1")
    decision = _decision(facts, hw)
    first, _ = _render(tmp_path / "a", facts, hw, DeployRequest(model=facts.source.ref), decision)
    second, _ = _render(tmp_path / "b", facts, hw, DeployRequest(model=facts.source.ref), decision)
    assert first["deployment_name"] == second["deployment_name"]
    assert first["run_spec"] == second["run_spec"]



@pytest.mark.parametrize("hostile", ["../../Evil Name!!", "x" * 300], ids=["traversal-and-spaces", "300-chars"])
def test_user_given_deployment_name_is_validated_or_made_dns_safe(tmp_path, model_facts, machine, hostile):
    facts, hw = model_facts("llama-3.1-8b-instruct"), machine("a100-80gb-x1")
    try:
        request = DeployRequest(model=facts.source.ref, deployment_name=hostile)
    except ValidationError:
        return  # refusing the request is a fine answer
    artifacts, _ = _render(tmp_path, facts, hw, request, _decision(facts, hw))
    name = artifacts["deployment_name"]
    assert DNS_1123_LABEL.match(name) and len(name) <= 63, name
    (volume,) = artifacts["run_spec"]["volumes"].values()
    assert ".." not in volume["bind"].split("/")

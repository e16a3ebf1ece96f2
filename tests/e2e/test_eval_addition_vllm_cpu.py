"""End to end: the tiny model trained on addition, deployed with the REAL vLLM CPU build, scores 100% on the
addition suite, both inside the deploy graph (its evaluate node records the score) and through `modeldeploy eval`.

models/tiny-adder is made by scripts/train_tiny_adder.py (the tiny-llama recipe trained on the 100 questions of
catalog/eval_suites/addition.jsonl; the script itself checks 100/100 with transformers' greedy decoding). Here
the whole path is real: `modeldeploy deploy --runtime process --python-env $MODELDEPLOY_TEST_VLLM_ENV` starts
vLLM's OpenAI server, `modeldeploy eval --suite addition` asks it every question over HTTP, and the score must be
exactly 1.0 (official and strict, nothing unparsed). That also checks what vLLM does with the model directory:
it renders the ChatML chat template (the model only answers in that format, and the prompt's token count is that
of the rendered template) and stops at `<|im_end|>` (every answer ends with finish_reason "stop", one token after
the number, never at max_tokens).

Without MODELDEPLOY_TEST_VLLM_ENV this test FAILS (it does not skip), like tests/e2e/test_deploy_vllm_cpu.py.
vLLM CPU starts in ~40-60 s here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from vllm_env import vllm_env
from proc_tree import carrying
from tokenizers import Tokenizer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("modeldeploy"))
ADDER = ROOT / "models" / "tiny-adder"
SUITE = ROOT / "catalog" / "eval_suites" / "addition.jsonl"
DEPLOY_TIMEOUT_S = 900
EXIT_WAIT_S = 60


def run(*args: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                          env={**os.environ, "MODELDEPLOY_HOME": str(home)})


def chatml_prompt_tokens(question: str) -> int:
    """Tokens of the question rendered by the model's ChatML template with the generation prompt."""
    text = f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"
    return len(Tokenizer.from_file(str(ADDER / "tokenizer.json")).encode(text, add_special_tokens=False).ids)


def log_tail(home: Path, name: str | None, lines: int = 60) -> str:
    logs = sorted((home / "deployments").glob(f"{name or '*'}/server.log"))
    return "\n".join(logs[-1].read_text(errors="replace").splitlines()[-lines:]) if logs else "(no server.log)"


def test_tiny_adder_on_real_vllm_cpu_scores_exactly_100_percent_on_addition(tmp_path):
    env = vllm_env()
    assert (ADDER / "model.safetensors").is_file(), "models/tiny-adder is missing: run scripts/train_tiny_adder.py"
    home, out = tmp_path / "home", tmp_path / "eval"
    # The deploy graph itself load-tests and evaluates the new endpoint and records both.
    proc = run("deploy", str(ADDER), "--runtime", "process", "--python-env", str(env), "--yes", "--json",
               "--bench-concurrency", "1,4", "--bench-requests", "8", "--eval", "addition", home=home,
               timeout=DEPLOY_TIMEOUT_S)
    doc = json.loads(proc.stdout) if proc.stdout.strip() else {}
    name = doc.get("name")
    try:
        assert proc.returncode == 0 and doc.get("status") == "ready", (
            f"deploy exited {proc.returncode}\nstdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-2000:]}\n"
            f"server.log:\n{log_tail(home, name)}")
        assert doc["framework"] == "vllm", doc
        recorded = doc["evaluations"]["addition"]
        assert (recorded["n"], recorded["score_official"], recorded["score_strict"]) == (100, 1.0, 1.0), recorded
        assert [(r["load"], r["failed"]) for r in doc["benchmark"]] == [("concurrency 1", 0), ("concurrency 4", 0)]
        assert all(r["request_throughput"] > 0 and r["ttft_ms_mean"] > 0 for r in doc["benchmark"]), doc["benchmark"]

        ev = run("eval", "--endpoint", doc["endpoint"], "--model", doc["served_model_name"], "--suite", "addition",
                 "--json", "--out", str(out), home=home)
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
    finally:
        if name:
            down = run("down", name, "--json", home=home)
            assert down.returncode == 0, down.stderr
            marker = f"MODELDEPLOY_DEPLOYMENT={name}"
            deadline = time.monotonic() + EXIT_WAIT_S
            while (left := carrying(marker)) and time.monotonic() < deadline:
                time.sleep(0.2)  # polling the process table, not synchronising on time
            assert not left, {p: Path(f"/proc/{p}/cmdline").read_bytes()[:200] for p in left}

"""Against the real vLLM CPU server with the bundled tiny model: a concurrency sweep whose throughput grows
with the first users and flattens at saturation, while TTFT grows (requests queue), and vLLM's own
/metrics show the batch full and the queue growing. Needs MODELDEPLOY_TEST_VLLM_ENV (the environment
scripts/ci/vllm_cpu_env.sh makes); without it this test FAILS, as the other real-vLLM e2e tests do.

Saturation is vLLM's scheduler cap, `--max-num-seqs 16`: past 16 sequences requests wait, so 32 and 128 users
both run a full batch. Without a cap, where the curve flattened on 2 cores was luck: 32 → 128 users gave
142 → 252 and 143 → 276 req/s in two of five runs on 2026-11-25 (the test asked for less than 1.6x); with a cap
of 36 (just above 32 users) one run went 181 → 293 req/s and another sampled a running batch of 31 at 128 users.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time

import httpx
import pytest
from bench_servers import TINY, free_port
from vllm_env import vllm_env

from modeldeploy.tools.bench.runner import run_benchmark
from modeldeploy.tools.bench.schema import BenchConfig, Load, WorkloadSpec

pytestmark = pytest.mark.slow
START_TIMEOUT_S = 240
MAX_NUM_SEQS = 16  # below the sweep's 32 and 128 users: both saturate it


@pytest.fixture(scope="module")
def vllm_url():
    env_dir = vllm_env()
    port = free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([str(env_dir / "bin" / "python"), "-m", "vllm.entrypoints.openai.api_server",
                             "--model", str(TINY), "--max-model-len", "512", "--max-num-seqs", str(MAX_NUM_SEQS),
                             "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    log: list[str] = []
    threading.Thread(target=lambda: log.extend(proc.stdout), daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("vLLM did not start:\n" + "".join(log[-30:]), pytrace=False)
            try:
                if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)  # polling the readiness endpoint, not synchronising on time
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


async def test_a_concurrency_sweep_flattens_at_saturation(vllm_url):
    cfg = BenchConfig(endpoint=vllm_url, model=str(TINY), duration_s=3.0, warmup_requests=8,
                      loads=[Load(concurrency=c) for c in (1, 4, 32, 128)],
                      workload=WorkloadSpec(input_len=64, output_len=32), scrape_interval_s=0.5)
    doc, _ = await run_benchmark(cfg)
    one, four, many, most = doc.runs
    for run in doc.runs:
        assert run.failed == 0 and run.output_tokens_source == "usage" and run.output_len.mean == 32
    assert doc.tokenizer is not None  # exact prompt lengths from the model's tokenizer
    assert four.request_throughput > 1.8 * one.request_throughput  # batching pays before saturation
    assert most.request_throughput < 1.6 * many.request_throughput  # 4x the users, not much more throughput
    assert most.ttft_ms.median > 2 * many.ttft_ms.median  # past saturation the extra users wait
    # vLLM's own view: the batch full at its cap at both points, the extra users in its queue
    assert most.server.running.max == many.server.running.max == MAX_NUM_SEQS
    assert most.server.waiting.max > many.server.waiting.max

"""The latency model's queue (FIFO slots, cancellation) and the Prometheus text, on one asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import re

from modeldeploy.simulator.engine import Engine, RequestTiming
from modeldeploy.simulator.metrics import Metrics
from modeldeploy.simulator.textgen import Step


def steps(n: int):
    for i in range(n):
        yield Step(f" t{i}", "length" if i == n - 1 else None)


async def consume(engine: Engine, n: int, log: list, name: str, timing: RequestTiming | None = None) -> RequestTiming:
    timing = timing or RequestTiming()
    run = engine.run(steps(n), prompt_tokens=3, timing=timing)
    async with contextlib.aclosing(run):
        async for _ in run:
            log.append((name, engine.running, engine.waiting))
    return timing


async def test_slots_are_handed_out_first_come_first_served():
    metrics = Metrics("m")
    engine = Engine(slots=2, ttft_s=0.02, tpot_s=0.005, metrics=metrics, kv_capacity_tokens=1000)
    log: list = []
    tasks = []
    for i in range(6):
        tasks.append(asyncio.create_task(consume(engine, 3, log, f"r{i}")))
        await asyncio.sleep(0)  # arrive in order
    timings = await asyncio.gather(*tasks)
    admitted = sorted(range(6), key=lambda i: timings[i].admitted)
    assert admitted == list(range(6))
    assert max(running for _, running, _ in log) == 2
    assert max(waiting for *_, waiting in log) == 4
    # a request admitted after another finished cannot beat that request's service time
    for later in range(2, 6):
        assert timings[later].admitted >= min(t.finished for t in timings[:later]) - 1e-3
        assert timings[later].queue_s > 0
    assert engine.running == 0 and engine.waiting == 0
    assert metrics.prompt_tokens == 18 and metrics.generation_tokens == 18
    assert metrics.success["length"] == 6 and metrics.ttft.n == 6 and metrics.queue.n == 6
    assert metrics.cache_usage == 0.0


async def test_a_cancelled_waiter_leaves_no_leak():
    engine = Engine(slots=1, ttft_s=0.01, tpot_s=0.001, metrics=Metrics("m"), kv_capacity_tokens=None)
    log: list = []
    first = asyncio.create_task(consume(engine, 5, log, "a"))
    await asyncio.sleep(0)
    second = asyncio.create_task(consume(engine, 5, log, "b"))
    third = asyncio.create_task(consume(engine, 5, log, "c"))
    await asyncio.sleep(0)
    assert engine.waiting == 2
    second.cancel()
    await asyncio.gather(first, third)
    assert second.cancelled()
    assert {name for name, *_ in log} == {"a", "c"}
    assert engine.running == 0 and engine.waiting == 0


async def test_a_client_that_stops_reading_releases_its_slot():
    metrics = Metrics("m")
    engine = Engine(slots=1, ttft_s=0.0, tpot_s=0.0, metrics=metrics, kv_capacity_tokens=None)
    run = engine.run(steps(100), prompt_tokens=1, timing=RequestTiming())
    async with contextlib.aclosing(run):
        async for _ in run:
            break
    assert engine.running == 0 and metrics.success["abort"] == 1


def test_prometheus_text():
    metrics = Metrics('tiny "model"')
    metrics.prompt_tokens, metrics.generation_tokens, metrics.running = 12, 34, 2
    metrics.ttft.observe(0.03)
    metrics.ttft.observe(3.0)
    metrics.finished("stop", 12, 34, 0.1, 0.2, 1.0, 0.5, 0.9)
    text = metrics.render("vllm")
    labels = 'engine="0",model_name="tiny \\"model\\""'
    assert f"vllm:prompt_tokens_total{{{labels}}} 12.0" in text
    assert f"vllm:generation_tokens_total{{{labels}}} 34.0" in text
    assert f"vllm:num_requests_running{{{labels}}} 2.0" in text
    assert f'vllm:request_success_total{{{labels},finished_reason="stop"}} 1.0' in text
    assert f'vllm:time_to_first_token_seconds_bucket{{{labels},le="0.04"}} 1.0' in text
    assert f'vllm:time_to_first_token_seconds_bucket{{{labels},le="+Inf"}} 2.0' in text
    assert f"vllm:time_to_first_token_seconds_count{{{labels}}} 2.0" in text
    for name in ("vllm:num_requests_waiting", "vllm:gpu_cache_usage_perc", "vllm:e2e_request_latency_seconds",
                 "vllm:request_queue_time_seconds", "vllm:time_per_output_token_seconds"):
        assert f"# TYPE {name} " in text
    sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.e+-]+$')
    for line in text.splitlines():
        assert line.startswith("# ") or sample.match(line), line
    assert "sglang:num_queue_reqs" in metrics.render("sglang") and "llamacpp:tokens_predicted_total" in metrics.render("llama.cpp")

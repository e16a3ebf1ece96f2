"""Accuracy of the bench client against a server whose timing is controlled (the simulator on loopback):
TTFT 200 ms, 10 ms per further token, 32 output tokens. Every reported mean is within 2% of the truth;
a server that sends several tokens per chunk still gives the true token-level ITL, and chunk-level ITL
shows the chunking.

The truth is what the server actually did, from its own /metrics (its TTFT/TPOT/E2E histograms over the
run): on a loaded 2-core machine the server's timers can be late too, and that lateness is not the
client's error. The server itself must stay within 10% of its configuration (else the test says so).
"""

from __future__ import annotations

import pytest
from bench_servers import SimServer

from modeldeploy.tools.bench.runner import run_benchmark
from modeldeploy.tools.bench.schema import SLO, BenchConfig, Load, RunResult, WorkloadSpec

TTFT, TPOT, OUT = 200.0, 10.0, 32
E2E = TTFT + (OUT - 1) * TPOT
USERS, N = 4, 24


def config(sim: SimServer, **kw) -> BenchConfig:
    base = dict(endpoint=sim.url, model=sim.model, loads=[Load(concurrency=USERS)], num_requests=N,
                warmup_requests=4, workload=WorkloadSpec(input_len=32, output_len=OUT), slo=SLO(ttft_ms=400),
                scrape_interval_s=5.0)
    base.update(kw)
    return BenchConfig(**base)


def truth(run: RunResult) -> dict[str, float]:
    """What the server did, by its own clock; checked against its configuration."""
    server = run.server
    assert server is not None and server.error is None, server
    actual = {"ttft": server.server_ttft_ms_mean, "tpot": server.server_tpot_ms_mean, "e2e": server.server_e2e_ms_mean}
    configured = {"ttft": TTFT, "tpot": TPOT, "e2e": E2E}
    drift = {k: (actual[k], configured[k]) for k in actual if abs(actual[k] - configured[k]) > 0.10 * configured[k]}
    assert not drift, f"the server itself missed its timing by > 10% (machine overloaded?): {drift}"
    return actual


def off(pairs: dict[str, tuple[float, float]], configured: dict[str, float]) -> dict:
    """Metrics whose measured value is further from the truth than 2% of the configured value."""
    return {k: (m, t) for k, (m, t) in pairs.items() if abs(m - t) > 0.02 * configured[k]}


CONFIGURED = {"ttft": TTFT, "tpot": TPOT, "itl": TPOT, "itl_chunk": TPOT, "e2e": E2E}


@pytest.fixture(scope="module")
def one_token_chunks():
    with SimServer(ttft_ms=TTFT, tpot_ms=TPOT) as sim:
        yield sim


@pytest.fixture(scope="module")
def four_token_chunks():
    with SimServer(ttft_ms=TTFT, tpot_ms=TPOT, chunk_tokens=4) as sim:
        yield sim


async def test_every_mean_is_within_two_percent_of_the_truth(one_token_chunks):
    doc, _ = await run_benchmark(config(one_token_chunks))
    run = doc.runs[0]
    assert (run.completed, run.failed) == (N, 0)
    assert run.output_tokens_source == "usage" and run.output_len.mean == OUT
    real = truth(run)
    assert not off({"ttft": (run.ttft_ms.mean, real["ttft"]), "tpot": (run.tpot_ms.mean, real["tpot"]),
                    "itl": (run.itl_ms.mean, real["tpot"]), "itl_chunk": (run.itl_chunk_ms.mean, real["tpot"]),
                    "e2e": (run.e2e_ms.mean, real["e2e"])}, CONFIGURED)
    # closed loop: each user sends again as soon as its response ends (the dispatch lag)
    cycle_s = (run.e2e_ms.mean + run.validity.dispatch_lag_ms.mean) / 1000
    assert abs(run.request_throughput - USERS / cycle_s) <= 0.02 * USERS / cycle_s
    assert abs(run.output_token_throughput - OUT * USERS / cycle_s) <= 0.02 * OUT * USERS / cycle_s
    assert run.goodput is not None and run.goodput.requests == N
    assert run.server.requests_finished == N  # warm-up excluded: the first scrape comes after it


async def test_several_tokens_per_chunk_give_the_true_token_level_itl(four_token_chunks):
    doc, _ = await run_benchmark(config(four_token_chunks))
    run = doc.runs[0]
    assert run.completed == N
    real = truth(run)
    assert not off({"itl": (run.itl_ms.mean, real["tpot"]), "tpot": (run.tpot_ms.mean, real["tpot"]),
                    "ttft": (run.ttft_ms.mean, real["ttft"]), "e2e": (run.e2e_ms.mean, real["e2e"])}, CONFIGURED)
    # the first token alone, then 7 chunks of 4 and one of 3: chunk gaps of 4 tokens and one of 3
    assert abs(run.itl_chunk_ms.mean - real["tpot"] * 31 / 8) <= 0.02 * TPOT * 31 / 8
    assert run.itl_chunk_ms.median > 3.5 * TPOT and run.itl_ms.median < 1.1 * TPOT


async def test_a_rate_run_delivers_its_schedule_and_reports_the_same_latencies(one_token_chunks):
    doc, _ = await run_benchmark(config(one_token_chunks, loads=[Load(rate=8.0)], num_requests=32))
    run = doc.runs[0]
    assert run.completed == 32
    assert abs(run.validity.achieved_rate - 8.0) <= 0.05 * 8.0
    real = truth(run)
    assert not off({"ttft": (run.ttft_ms.mean, real["ttft"]), "tpot": (run.tpot_ms.mean, real["tpot"])}, CONFIGURED)


async def test_a_concurrency_cap_queues_in_the_client_and_says_so(one_token_chunks):
    doc, _ = await run_benchmark(config(one_token_chunks, loads=[Load(rate=40.0, max_concurrency=2)], num_requests=12))
    run = doc.runs[0]
    assert run.completed == 12
    assert run.validity.client_queue_ms.max > E2E  # requests waited for the cap...
    assert run.ttft_ms.max < 1.5 * TTFT  # ...and that wait is not counted as the server's latency
    assert run.validity.achieved_concurrency <= 2.05
    assert abs(run.validity.achieved_rate - 40.0) <= 0.05 * 40.0  # dispatch kept the schedule; the cap held them


async def test_a_server_that_queues_shows_it_in_ttft_and_in_its_own_metrics():
    with SimServer(ttft_ms=50, tpot_ms=5, slots=2) as sim:
        cfg = BenchConfig(endpoint=sim.url, model=sim.model, loads=[Load(concurrency=2), Load(concurrency=8)],
                          num_requests=24, workload=WorkloadSpec(input_len=16, output_len=16), scrape_interval_s=0.2)
        doc, _ = await run_benchmark(cfg)
    low, high = doc.runs
    assert high.ttft_ms.mean > 2 * low.ttft_ms.mean
    assert high.request_throughput < 1.15 * low.request_throughput  # 2 slots: more users, no more throughput
    assert high.server.waiting.max >= 1
    assert high.server.queue_time_ms_mean > 10 * max(low.server.queue_time_ms_mean or 0.0, 1.0)

"""Was the client the bottleneck? A run is valid when every check below holds; `reasons` names the ones
that failed, and such a run is flagged, never reported as the server's number.

Thresholds (documented in docs/benchmarking.md):
- rate runs: requests sent / send window >= 95% of the target rate (below it the client under-delivered
  its schedule, vllm#21104); with a concurrency cap, waiting for the cap is the server's slowness and is
  reported as `client_queue_ms`, not counted against the client;
- p99 dispatch lag <= 10 ms (rate: send - schedule; concurrency: next send - previous response's end);
- p99 event-loop lag <= 10 ms (every timestamp can be that late);
- client CPU <= 90% of one core on average (an asyncio client is one thread).
"""

from __future__ import annotations

from typing import Sequence

from modeldeploy.tools.bench.analyze import RequestMetrics
from modeldeploy.tools.bench.schema import Load, Validity
from modeldeploy.tools.bench.stats import summarize

MIN_RATE_FRACTION = 0.95
MAX_DISPATCH_LAG_P99_MS = 10.0
MAX_LOOP_LAG_P99_MS = 10.0
MAX_CPU_PERCENT = 90.0


def achieved_concurrency(metrics: Sequence[RequestMetrics], duration_s: float) -> float:
    busy = sum(max(m.end_s - m.sent_s, 0.0) for m in metrics)
    return busy / duration_s if duration_s > 0 else 0.0


def verdict(load: Load, metrics: Sequence[RequestMetrics], duration_s: float, loop_lag_ms: Sequence[float],
            cpu_mean: float, cpu_samples: Sequence[float], cap_waits_ms: Sequence[float]) -> Validity:
    sends = sorted(m.dispatched_s for m in metrics)  # before any wait for a concurrency cap
    window = sends[-1] - sends[0] if len(sends) > 1 else 0.0
    achieved = (len(sends) - 1) / window if window > 0 else 0.0
    lag = summarize([m.dispatch_lag_ms for m in metrics])
    loop = summarize(loop_lag_ms)
    reasons: list[str] = []
    if load.rate is not None and len(sends) > 1 and achieved < MIN_RATE_FRACTION * load.rate:
        reasons.append(f"achieved rate {achieved:.1f}/s is below {MIN_RATE_FRACTION:.0%} of the target "
                       f"{load.rate:g}/s: the client could not keep up")
    if lag.p99 is not None and lag.p99 > MAX_DISPATCH_LAG_P99_MS:
        reasons.append(f"p99 dispatch lag {lag.p99:.1f} ms > {MAX_DISPATCH_LAG_P99_MS:g} ms: requests left late")
    if loop.p99 is not None and loop.p99 > MAX_LOOP_LAG_P99_MS:
        reasons.append(f"p99 event-loop lag {loop.p99:.1f} ms > {MAX_LOOP_LAG_P99_MS:g} ms: timestamps are late")
    if cpu_mean > MAX_CPU_PERCENT:
        reasons.append(f"client CPU {cpu_mean:.0f}% of a core > {MAX_CPU_PERCENT:g}%: the client was saturated")
    return Validity(target_rate=load.rate, achieved_rate=achieved, target_concurrency=load.concurrency,
                    achieved_concurrency=achieved_concurrency(metrics, duration_s), dispatch_lag_ms=lag,
                    client_queue_ms=summarize(cap_waits_ms), loop_lag_ms=loop, client_cpu_percent=cpu_mean,
                    client_cpu_peak_percent=max(cpu_samples, default=cpu_mean), reasons=reasons)

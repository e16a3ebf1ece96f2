"""Sweeps from one user to saturation, and the search for the highest load that meets an SLO.

Saturation: concurrency doubles from 1 until a doubling gains less than 10% request throughput (or errors
pass 10%, or the limit is reached); the saturation point is the first load whose successor gained < 10%.
SLO search: over concurrency, doubling until a load misses the SLO, then bisecting between the last load
that met it and the first that did not. A load meets the SLO when at least `attainment` of its completed
requests meet every limit, the run is valid, and at most 1% of requests failed.
"""

from __future__ import annotations

from typing import Awaitable, Callable, Sequence

from modeldeploy.tools.bench.analyze import meets
from modeldeploy.tools.bench.schema import SLO, Load, RunResult, SLOSearch, SweepSummary

GAIN = 0.10
RunFn = Callable[[Load], Awaitable[RunResult]]


def saturation(runs: Sequence[RunResult]) -> SweepSummary | None:
    points = sorted((r for r in runs if r.concurrency is not None), key=lambda r: r.concurrency)
    if not points:
        return None
    knee = None
    for a, b in zip(points, points[1:]):
        if b.request_throughput < (1 + GAIN) * a.request_throughput:
            knee = a.concurrency
            break
    return SweepSummary(saturation_concurrency=knee, max_request_throughput=max(r.request_throughput for r in points),
                        max_output_token_throughput=max(r.output_token_throughput for r in points))


async def auto_sweep(run: RunFn, limit: int = 256) -> list[RunResult]:
    runs: list[RunResult] = []
    users = 1
    while users <= limit:
        result = await run(Load(concurrency=users))
        runs.append(result)
        if result.error_rate > 0.10:
            break
        if len(runs) >= 2 and result.request_throughput < (1 + GAIN) * runs[-2].request_throughput:
            break
        users *= 2
    return runs


def attainment(result: RunResult, rows) -> float:
    done = [m for m in rows if m.ok]
    return sum(1 for m in done if meets(m, result.goodput.slo)) / len(done) if done and result.goodput else 0.0


async def slo_search(run: RunFn, rows_of: Callable[[RunResult], list], slo: SLO, target: float = 0.9,
                     limit: int = 256) -> tuple[list[RunResult], SLOSearch]:
    runs: list[RunResult] = []
    search = SLOSearch(slo=slo, attainment=target)
    verdicts: dict[int, bool] = {}

    async def met(users: int) -> bool:
        result = await run(Load(concurrency=users))
        runs.append(result)
        share = attainment(result, rows_of(result))
        ok = result.valid and result.error_rate <= 0.01 and share >= target
        search.tried.append({"label": result.label, "met": ok, "attainment": round(share, 4)})
        verdicts[users] = ok
        if ok and (search.best_load is None or users > (search.best_load.concurrency or 0)):
            search.best_load, search.best_run = Load(concurrency=users), len(runs) - 1
        return ok

    good, bad, users = 0, None, 1
    while users <= limit:
        if not await met(users):
            bad = users
            break
        good, users = users, users * 2
    if bad is None or good == 0:
        return runs, search
    while bad - good > 1:
        middle = (good + bad) // 2
        if await met(middle):
            good = middle
        else:
            bad = middle
    return runs, search

"""Load shapes: a fixed number of users (closed loop), or arrivals at a rate (Poisson or gamma), optionally
capped in concurrency; bounded by a request count and/or a duration; warm-up requests before, not recorded.

Rate runs draw gamma inter-arrival gaps (shape = burstiness; 1 is Poisson) and rescale them so that the
schedule's mean rate is exactly the target: for Poisson this is the process conditioned on its count,
and it makes "achieved vs target" a statement about the client, not about the sample.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from modeldeploy.tools.bench.client import Client, Record
from modeldeploy.tools.bench.schema import Load

Progress = Callable[[str, Record], None]


@dataclass
class Outcome:
    records: list[Record]
    started: float
    finished: float
    cap_waits_ms: list[float]


def arrival_offsets(n: int, rate: float, burstiness: float, seed: int) -> np.ndarray:
    """Send offsets (s) of `n` requests: gamma gaps with mean 1/rate, first at 0, mean rate exactly `rate`."""
    if n <= 1:
        return np.zeros(max(n, 0))
    rng = np.random.default_rng(seed)
    gaps = rng.gamma(shape=burstiness, scale=1.0 / (rate * burstiness), size=n - 1)
    gaps *= ((n - 1) / rate) / gaps.sum()
    return np.concatenate([[0.0], np.cumsum(gaps)])


async def warm_up(client: Client, bodies: Sequence[bytes], count: int, concurrency: int) -> list[Record]:
    """`count` requests at `concurrency`, before the measured run (connections, caches, JIT)."""
    if count <= 0:
        return []
    records = [Record(index=-1 - i, spec=i % len(bodies), warmup=True) for i in range(count)]
    pending = iter(records)

    async def user() -> None:
        for record in pending:
            await client.send(record, bodies[record.spec])

    await asyncio.gather(*(user() for _ in range(max(1, min(concurrency, count)))))
    return records


async def run_load(client: Client, bodies: Sequence[bytes], load: Load, num_requests: int | None,
                   duration_s: float | None, seed: int = 0, progress: Progress | None = None) -> Outcome:
    """Run one load point; every request of the measured phase is in `records` (failed ones too)."""
    if load.concurrency is not None:
        return await _closed_loop(client, bodies, load.concurrency, num_requests, duration_s, progress)
    return await _open_loop(client, bodies, load, num_requests, duration_s, seed, progress)


async def _closed_loop(client: Client, bodies: Sequence[bytes], users: int, num_requests: int | None,
                       duration_s: float | None, progress: Progress | None) -> Outcome:
    clock = time.perf_counter
    records: list[Record] = []
    counter = itertools.count()
    started = clock()
    deadline = started + duration_s if duration_s else None
    limit = num_requests if num_requests is not None else float("inf")

    async def user() -> None:
        ready = started
        while True:
            index = next(counter)
            if index >= limit or (deadline is not None and clock() >= deadline):
                return
            record = Record(index=index, spec=index % len(bodies), ready=ready)
            records.append(record)
            record.started = clock()
            if progress:
                progress("sent", record)
            await client.send(record, bodies[record.spec])
            if progress:
                progress("done", record)
            ready = record.end

    await asyncio.gather(*(user() for _ in range(users)))
    records.sort(key=lambda r: r.index)
    return Outcome(records, started, clock(), [])


async def _open_loop(client: Client, bodies: Sequence[bytes], load: Load, num_requests: int | None,
                     duration_s: float | None, seed: int, progress: Progress | None) -> Outcome:
    clock = time.perf_counter
    rate = float(load.rate)
    n = num_requests if num_requests is not None else max(1, int(rate * duration_s))
    if num_requests is not None and duration_s is not None:
        n = min(n, max(1, int(rate * duration_s)))
    offsets = arrival_offsets(n, rate, load.burstiness, seed)
    cap = asyncio.Semaphore(load.max_concurrency) if load.max_concurrency else None
    records: list[Record] = []
    cap_waits: list[float] = []
    tasks: set[asyncio.Task] = set()
    loop = asyncio.get_running_loop()

    async def one(record: Record) -> None:
        record.started = clock()
        if cap is not None:
            async with cap:
                cap_waits.append((clock() - record.started) * 1000.0)
                await client.send(record, bodies[record.spec])
        else:
            await client.send(record, bodies[record.spec])
        if progress:
            progress("done", record)

    started = clock()
    for index, offset in enumerate(offsets.tolist()):
        due = started + offset
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        record = Record(index=index, spec=index % len(bodies), scheduled=due, ready=due)
        records.append(record)
        if progress:
            progress("sent", record)
        task = loop.create_task(one(record))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    return Outcome(records, started, clock(), cap_waits)

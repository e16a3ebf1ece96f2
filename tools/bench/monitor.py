"""Client health while a run goes on: event-loop lag (oversleep of a short timer) and process CPU."""

from __future__ import annotations

import asyncio
import time

LAG_INTERVAL_S = 0.02
CPU_INTERVAL_S = 0.5


class Monitor:
    """Start with `start()`, stop with `await stop()`; then read `loop_lag_ms` and `cpu_percent` samples."""

    def __init__(self) -> None:
        self.loop_lag_ms: list[float] = []
        self.cpu_samples: list[float] = []
        self._task: asyncio.Task | None = None
        self._cpu0 = self._wall0 = 0.0

    def start(self) -> None:
        self._cpu0, self._wall0 = time.process_time(), time.perf_counter()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        clock, cpu = time.perf_counter, time.process_time
        last_cpu, last_wall = cpu(), clock()
        while True:
            before = clock()
            await asyncio.sleep(LAG_INTERVAL_S)
            now = clock()
            self.loop_lag_ms.append(max(0.0, (now - before - LAG_INTERVAL_S) * 1000.0))
            if now - last_wall >= CPU_INTERVAL_S:
                c = cpu()
                self.cpu_samples.append(100.0 * (c - last_cpu) / (now - last_wall))
                last_cpu, last_wall = c, now

    async def stop(self) -> float:
        """Stop sampling; the mean CPU percent of one core over the whole monitored span."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        wall = time.perf_counter() - self._wall0
        return 100.0 * (time.process_time() - self._cpu0) / wall if wall > 0 else 0.0

"""The latency model: SLOTS sequences decode at once, the rest wait in a FIFO queue.

A request that holds a slot spends TTFT on prefill, then TPOT per further
token, on absolute deadlines (no drift under load). Everything runs on one
asyncio loop: no threads, so 64 concurrent streams cost little CPU.
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field
from typing import AsyncIterator, Iterator

from .metrics import Metrics
from .textgen import Step


@dataclass
class RequestTiming:
    arrived: float = field(default_factory=time.monotonic)
    admitted: float | None = None
    first_token: float | None = None
    last_token: float | None = None
    finished: float | None = None

    @property
    def queue_s(self) -> float:
        return (self.admitted or self.arrived) - self.arrived


class Engine:
    def __init__(self, slots: int, ttft_s: float, tpot_s: float, metrics: Metrics, kv_capacity_tokens: int | None):
        self.slots = max(1, slots)
        self.ttft_s = ttft_s
        self.tpot_s = tpot_s
        self.metrics = metrics
        self.kv_capacity = kv_capacity_tokens or 0
        self.running = 0
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._kv_in_use = 0
        # for the periodic stats line
        self.window_prompt = 0
        self.window_generated = 0

    @property
    def waiting(self) -> int:
        return sum(1 for f in self._waiters if not f.done())

    def _publish(self) -> None:
        self.metrics.running = self.running
        self.metrics.waiting = self.waiting
        self.metrics.cache_usage = min(self._kv_in_use / self.kv_capacity, 1.0) if self.kv_capacity else 0.0

    async def _acquire(self) -> None:
        if self.running < self.slots and not self._waiters:
            self.running += 1
            self._publish()
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        self._publish()
        try:
            await future  # release() hands its slot over: running is unchanged
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release()
            else:
                try:
                    self._waiters.remove(future)
                except ValueError:
                    pass
                self._publish()
            raise

    def _release(self) -> None:
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)
                self._publish()
                return
        self.running -= 1
        self._publish()

    async def run(self, steps: Iterator[Step], prompt_tokens: int, timing: RequestTiming) -> AsyncIterator[Step]:
        """Yield the steps of one request on the latency model's clock; account metrics at the end."""
        reason = "abort"
        produced = 0
        held = 0
        await self._acquire()
        try:
            timing.admitted = time.monotonic()
            self.metrics.prompt_tokens += prompt_tokens
            self.window_prompt += prompt_tokens
            held = prompt_tokens
            self._kv_in_use += held
            self._publish()
            start = timing.admitted + self.ttft_s
            for step in steps:
                deadline = start + produced * self.tpot_s
                delay = deadline - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    await asyncio.sleep(0)
                produced += 1
                now = time.monotonic()
                if produced == 1:
                    timing.first_token = now
                    self.metrics.ttft.observe(now - timing.arrived)
                timing.last_token = now
                self.metrics.generation_tokens += 1
                self.window_generated += 1
                self._kv_in_use += 1
                held += 1
                yield step
                if step.finish_reason:
                    reason = step.finish_reason
                    break
        finally:
            self._kv_in_use -= held
            self._release()
            timing.finished = time.monotonic()
            self.metrics.finished(reason, prompt_tokens, produced, timing.queue_s,
                                  (timing.first_token - timing.arrived) if timing.first_token else None,
                                  timing.finished - timing.arrived, timing.first_token, timing.last_token)

"""The server's own view from Prometheus /metrics (vLLM names, SGLang's where they differ), scraped before,
during (every `interval_s`) and after a run; parsed after the run so that scraping costs the client little.

Reported beside the client's numbers: mean queue time, server-side TTFT and E2E (histogram sum/count
deltas over the run), requests finished and tokens (counter deltas), running/waiting requests and KV-cache
usage (gauges sampled during the run).
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field

import aiohttp

from modeldeploy.tools.bench.schema import ServerMetrics
from modeldeploy.tools.bench.stats import summarize

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([-+0-9.eEinfINFaN]+)")
RUNNING = ("vllm:num_requests_running", "sglang:num_running_reqs")
WAITING = ("vllm:num_requests_waiting", "sglang:num_queue_reqs")
KV_USAGE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "sglang:token_usage")
QUEUE = ("vllm:request_queue_time_seconds", "sglang:queue_time_seconds")
TTFT = ("vllm:time_to_first_token_seconds", "sglang:time_to_first_token_seconds")
E2E = ("vllm:e2e_request_latency_seconds", "sglang:e2e_request_latency_seconds")
TPOT = ("vllm:time_per_output_token_seconds", "vllm:inter_token_latency_seconds", "sglang:inter_token_latency_seconds")
FINISHED = ("vllm:request_success_total", "sglang:num_requests_total")
GENERATION = ("vllm:generation_tokens_total", "sglang:generation_tokens_total")
PROMPT = ("vllm:prompt_tokens_total", "sglang:prompt_tokens_total")


def parse(text: str) -> dict[str, float]:
    """Metric name (with _sum/_count suffixes, labels dropped) to the sum over its label sets; buckets skipped."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        match = _LINE.match(line)
        if not match or match.group(1).endswith("_bucket"):
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        values[match.group(1)] = values.get(match.group(1), 0.0) + value
    return values


def _first(values: dict[str, float], names: tuple[str, ...], suffix: str = "") -> float | None:
    for name in names:
        if name + suffix in values:
            return values[name + suffix]
    return None


def _delta(before: dict[str, float], after: dict[str, float], names: tuple[str, ...], suffix: str = "") -> float | None:
    a, b = _first(after, names, suffix), _first(before, names, suffix)
    return None if a is None or b is None else a - b


def _mean_ms(before: dict[str, float], after: dict[str, float], names: tuple[str, ...]) -> float | None:
    total, count = _delta(before, after, names, "_sum"), _delta(before, after, names, "_count")
    return None if not count or total is None else 1000.0 * total / count


@dataclass
class Scraper:
    """`await first()`, `start()` during the run, `await finish()` after; `summary()` is the ServerMetrics."""
    url: str
    session: aiohttp.ClientSession
    interval_s: float = 1.0
    raw: list[tuple[float, str]] = field(default_factory=list)
    error: str | None = None
    _task: asyncio.Task | None = None
    _origin: float = 0.0

    async def _scrape(self) -> bool:
        try:
            async with self.session.get(self.url, timeout=aiohttp.ClientTimeout(total=10)) as response:
                if response.status != 200:
                    self.error = f"{self.url} answered {response.status}"
                    return False
                self.raw.append((time.perf_counter(), await response.text()))
                return True
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            self.error = f"{self.url}: {exc.__class__.__name__} {exc}"
            return False

    async def first(self) -> bool:
        """The 'before' sample; False when the server has no usable /metrics (then nothing else is scraped)."""
        return await self._scrape()

    def start(self, origin: float) -> None:
        self._origin = origin

        async def loop() -> None:
            while True:
                await asyncio.sleep(self.interval_s)
                await self._scrape()

        self._task = asyncio.get_running_loop().create_task(loop())

    async def finish(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._scrape()

    def summary(self) -> ServerMetrics:
        if len(self.raw) < 2:
            return ServerMetrics(url=self.url, samples=len(self.raw), error=self.error or "fewer than two scrapes")
        parsed = [(t, parse(text)) for t, text in self.raw]
        before, after = parsed[0][1], parsed[-1][1]
        during = parsed[1:-1] or parsed
        timeline, running, waiting, kv = [], [], [], []
        for t, values in during:
            r, w, k = _first(values, RUNNING), _first(values, WAITING), _first(values, KV_USAGE)
            k = None if k is None else 100.0 * k
            timeline.append({"t_s": round(t - self._origin, 3), "running": r, "waiting": w, "kv_cache_usage_percent": k})
            for series, v in ((running, r), (waiting, w), (kv, k)):
                if v is not None:
                    series.append(v)
        return ServerMetrics(
            url=self.url, samples=len(parsed), queue_time_ms_mean=_mean_ms(before, after, QUEUE),
            server_ttft_ms_mean=_mean_ms(before, after, TTFT), server_tpot_ms_mean=_mean_ms(before, after, TPOT),
            server_e2e_ms_mean=_mean_ms(before, after, E2E),
            requests_finished=_delta(before, after, FINISHED), generation_tokens=_delta(before, after, GENERATION),
            prompt_tokens=_delta(before, after, PROMPT), running=summarize(running), waiting=summarize(waiting),
            kv_cache_usage_percent=summarize(kv), timeline=timeline, error=None)

"""One benchmark: a `BenchConfig` in, a `BenchDocument` (and the per-request rows) out.

Order per load point: warm-up requests (not recorded), a /metrics scrape, the measured run with the
loop/CPU monitor and periodic scrapes, a last scrape, then the analysis (off the hot path).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from typing import Protocol, Sequence

from modeldeploy.errors import ModelDeployError
from modeldeploy.tools.bench import analyze
from modeldeploy.tools.bench.client import Client, Features, ProbeError
from modeldeploy.tools.bench.loadgen import run_load, warm_up
from modeldeploy.tools.bench.monitor import Monitor
from modeldeploy.tools.bench.prometheus import Scraper
from modeldeploy.tools.bench.schema import BenchConfig, BenchDocument, Load, RunResult
from modeldeploy.tools.bench.stats import summarize
from modeldeploy.tools.bench.tokenizer import Tokenizer, load_tokenizer
from modeldeploy.tools.bench.validity import verdict
from modeldeploy.tools.bench.workloads import RequestSpec, body_for, build_specs
from modeldeploy.tools.quiet_gc import quiet_gc

MAX_POOL = 5000


class Progress(Protocol):
    def start_run(self, load: Load, total: int | None, duration_s: float | None) -> None: ...
    def event(self, kind: str, record) -> None: ...
    def end_run(self, result: RunResult) -> None: ...


class EndpointError(ModelDeployError):
    """The endpoint did not serve a single streamed request."""


@dataclass
class Session:
    """What stays the same across the load points of one benchmark."""
    config: BenchConfig
    client: Client
    specs: list[RequestSpec]
    bodies: list[bytes]
    tokenizer: Tokenizer | None
    features: Features
    progress: Progress | None = None
    requests: dict[str, list[analyze.RequestMetrics]] = field(default_factory=dict)
    own_process: bool = False
    """The benchmark has the process to itself (the CLI): it may hold off full garbage collections (quiet_gc).
    Inside a server or a graph run other work shares the process, so the collector is left alone there."""

    async def run(self, load: Load) -> RunResult:
        cfg = self.config
        await warm_up(self.client, self.bodies, cfg.warmup_requests, load.concurrency or load.max_concurrency or 4)
        scraper = None
        if cfg.scrape_metrics:
            scraper = Scraper(self.client.base.removesuffix("/v1") + "/metrics", self.client.session,
                              cfg.scrape_interval_s)
            await scraper.first()  # a failed first scrape keeps its error for the document, nothing more
        monitor = Monitor()
        if self.progress:
            self.progress.start_run(load, cfg.num_requests, cfg.duration_s)
        with quiet_gc() if self.own_process else contextlib.nullcontext():
            monitor.start()
            origin = time.perf_counter()
            if scraper is not None and scraper.raw:
                scraper.start(origin)
            outcome = await run_load(self.client, self.bodies, load, cfg.num_requests, cfg.duration_s, cfg.seed,
                                     self.progress.event if self.progress else None)
            cpu = await monitor.stop()
        if scraper is not None and scraper.raw:
            await scraper.finish()
        result, rows = summarize_run(load, outcome.records, self.specs, outcome.started, self.tokenizer, cfg,
                                     monitor.loop_lag_ms, cpu, monitor.cpu_samples, outcome.cap_waits_ms)
        if scraper is not None:
            result.server = scraper.summary()
        self.requests[result.label] = rows
        if self.progress:
            self.progress.end_run(result)
        return result


def summarize_run(load: Load, records, specs: Sequence[RequestSpec], origin: float, tokenizer: Tokenizer | None,
                  cfg: BenchConfig, loop_lag_ms: Sequence[float], cpu: float, cpu_samples: Sequence[float],
                  cap_waits_ms: Sequence[float]) -> tuple[RunResult, list[analyze.RequestMetrics]]:
    rows = [analyze.request_metrics(r, specs[r.spec], origin, tokenizer) for r in records]
    for r in records:  # the raw bytes are no longer needed
        r.reads = []
    done = [m for m in rows if m.ok]
    duration = (max(m.end_s for m in rows) - min(m.sent_s for m in rows)) if rows else 0.0
    per_s = (lambda x: x / duration) if duration > 0 else (lambda x: 0.0)
    total_in = sum(m.input_tokens for m in done)
    total_out = sum(m.output_tokens for m in done)
    validity = verdict(load, rows, duration, loop_lag_ms, cpu, cpu_samples, cap_waits_ms)
    result = RunResult(
        concurrency=load.concurrency, rate=load.rate, burstiness=load.burstiness if load.rate else None,
        max_concurrency=load.max_concurrency, label=load.label, completed=len(done), failed=len(rows) - len(done),
        errors=analyze.error_counts(rows), error_rate=(len(rows) - len(done)) / len(rows) if rows else 0.0,
        duration_s=duration, request_throughput=per_s(len(done)), output_token_throughput=per_s(total_out),
        input_token_throughput=per_s(total_in), total_token_throughput=per_s(total_in + total_out),
        total_input_tokens=total_in, total_output_tokens=total_out, output_tokens_source=analyze.run_source(rows),
        ttft_ms=summarize([m.ttft_ms for m in done]),
        tpot_ms=summarize([m.tpot_ms for m in done if m.tpot_ms is not None]),
        itl_ms=summarize([x for m in done for x in m.itl_ms]),
        itl_chunk_ms=summarize([x for m in done for x in m.itl_chunk_ms]),
        e2e_ms=summarize([m.e2e_ms for m in done]),
        input_len=summarize([m.input_tokens for m in done]), output_len=summarize([m.output_tokens for m in done]),
        goodput=analyze.goodput(rows, cfg.slo, duration), valid=not validity.reasons, validity=validity,
        timeline=analyze.timeline(rows, duration) if rows else [])
    return result, rows


def pool_size(cfg: BenchConfig) -> int:
    if cfg.num_requests is not None:
        return min(cfg.num_requests, MAX_POOL)
    return MAX_POOL


async def open_session(cfg: BenchConfig, progress: Progress | None = None, api_key: str | None = None,
                       fixed_output: int | None = None) -> tuple[Session, Client]:
    """Tokenizer, workload, client, probe; the caller closes the client (`async with`)."""
    # Files (tokenizer, dataset) are read in a thread: the graph's benchmark node runs on the event loop.
    tokenizer = await asyncio.to_thread(load_tokenizer, cfg.tokenizer, cfg.model)
    specs = await asyncio.to_thread(build_specs, cfg.workload, pool_size(cfg), tokenizer, fixed_output)
    connections = max([l.concurrency or l.max_concurrency or 0 for l in cfg.loads] + [0]) or 10000
    client = Client(cfg.endpoint, cfg.api, api_key if api_key is not None else os.environ.get("OPENAI_API_KEY"),
                    cfg.timeout_s, connections)
    await client.__aenter__()
    try:
        probe = body_for(RequestSpec("Say hello.", 3, 4), cfg.model, cfg.api, None, cfg.ignore_eos)
        features = await client.probe(probe)
    except ProbeError as exc:
        await client.__aexit__(None, None, None)
        raise EndpointError(str(exc)) from None
    except BaseException:
        await client.__aexit__(None, None, None)
        raise
    options = None
    if features.usage:
        options = {"include_usage": True}
        if features.continuous_usage:
            options["continuous_usage_stats"] = True
    bodies = [json.dumps(body_for(s, cfg.model, cfg.api, options, features.ignore_eos and cfg.ignore_eos),
                         separators=(",", ":")).encode() for s in specs]
    return Session(cfg, client, specs, bodies, tokenizer, features, progress), client


def event_loop_name() -> str | None:
    """`uvloop` or `asyncio`: which event loop ran the client (uvloop costs less CPU per request)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return type(loop).__module__.split(".")[0]


def document(cfg: BenchConfig, session: Session, runs: list[RunResult], **extra) -> BenchDocument:
    config = cfg.model_dump(mode="json")
    config["features"] = {"usage": session.features.usage, "continuous_usage": session.features.continuous_usage,
                          "ignore_eos": session.features.ignore_eos, "notes": list(session.features.notes)}
    config["event_loop"] = event_loop_name()
    return BenchDocument(endpoint=cfg.endpoint, model=cfg.model, api=cfg.api,
                         tokenizer=session.tokenizer.source if session.tokenizer else None, config=config, runs=runs,
                         **extra)


async def run_benchmark(cfg: BenchConfig, progress: Progress | None = None,
                        fixed_output: int | None = None) -> tuple[BenchDocument, Session]:
    """Every load of `cfg.loads` in order."""
    session, client = await open_session(cfg, progress, fixed_output=fixed_output)
    async with client:
        runs = [await session.run(load) for load in cfg.loads]
    return document(cfg, session, runs), session

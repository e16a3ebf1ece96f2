"""Toolkit `bench`: load-test an OpenAI-compatible endpoint (what `modeldeploy bench` runs).

The benchmark (tokenizer, workload, load generator, metrics scrape) runs in a
worker thread with its own event loop; each load point reports its start, every
tenth of its requests and its result as MCP progress. The result is the
`bench --json` document (TTFT, TPOT, ITL, E2E, throughput, goodput, validity per load point).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from mcp.server.fastmcp import Context
from pydantic import Field

from modeldeploy.errors import UserInputError
from modeldeploy.mcp_server import endpoints
from modeldeploy.mcp_server.progress import ProgressRelay
from modeldeploy.mcp_server.registry import Toolkit, ToolSpec


class BenchProgress:
    """The benchmark's progress protocol (`tools.bench.runner.Progress`) as relayed messages, throttled."""

    def __init__(self, relay: ProgressRelay) -> None:
        self.relay = relay
        self.label, self.every, self.done, self.failed = "", 1, 0, 0

    def start_run(self, load: Any, total: int | None, duration_s: float | None) -> None:
        self.label, self.done, self.failed = load.label, 0, 0
        self.every = max(1, (total or 100) // 10)
        self.relay.post(f"{load.label}: started ({f'{total} requests' if total else f'{duration_s:g} s'})")

    def event(self, kind: str, record: Any) -> None:
        if kind == "sent":
            return
        self.done += 1
        self.failed += bool(getattr(record, "error", None))
        if self.done % self.every == 0:
            self.relay.post(f"{self.label}: {self.done} done, {self.failed} failed")

    def end_run(self, result: Any) -> None:
        self.relay.post(f"{result.label}: {result.request_throughput:.2f} req/s, "
                        f"TTFT p50 {result.ttft_ms.median or 0:.0f} ms, failed {result.failed}")


def _benchmark(cfg: Any, sweep: bool, progress: BenchProgress, deployment: str | None) -> dict[str, Any]:
    from modeldeploy.tools.bench import sweep as sweeps
    from modeldeploy.tools.bench.runner import document, open_session

    async def run() -> Any:
        session, client = await open_session(cfg, progress)
        async with client:
            runs = await sweeps.auto_sweep(session.run) if sweep else [await session.run(load) for load in cfg.loads]
        return document(cfg, session, runs, sweep=sweeps.saturation(runs) if len(runs) > 1 else None)

    doc = asyncio.run(run())
    if deployment:
        from modeldeploy.tools.bench.store import store_and_compare

        doc.deployment = deployment
        doc.comparison = store_and_compare(doc)
    return doc.model_dump(mode="json")


async def bench_endpoint(
    ctx: Context,
    endpoint: Annotated[str | None, Field(description="Base URL of the server (http://host:port or .../v1).")] = None,
    model: Annotated[str | None, Field(description="Served model name.")] = None,
    deployment: Annotated[str | None, Field(description="A deployment name: its endpoint and model are used unless "
                                                        "given, and the result is stored and compared with its "
                                                        "previous benchmark.")] = None,
    concurrency: Annotated[list[int] | None, Field(description="Fixed numbers of users, one run each, e.g. [1, 4, 16] "
                                                              "(default [1]).")] = None,
    rate: Annotated[list[float] | None, Field(description="Arrival rates in requests/s (open loop), one run each.")] = None,
    max_concurrency: Annotated[int | None, Field(ge=1, description="With rate: at most this many in flight.")] = None,
    sweep: Annotated[bool, Field(description="Double the users from 1 until throughput stops growing.")] = False,
    num_requests: Annotated[int | None, Field(ge=1, description="Requests per run (default 100 unless duration_s).")] = None,
    duration_s: Annotated[float | None, Field(gt=0, description="Seconds per run.")] = None,
    input_len: Annotated[int, Field(ge=1, description="Prompt tokens (random workload).")] = 128,
    output_len: Annotated[int, Field(ge=1, description="Output tokens asked.")] = 128,
    api: Annotated[Literal["chat", "completions"], Field(description="Which OpenAI API to call.")] = "chat",
    slo_ttft_ms: Annotated[float | None, Field(gt=0, description="SLO on time to first token, for goodput.")] = None,
    slo_tpot_ms: Annotated[float | None, Field(gt=0, description="SLO on time per output token.")] = None,
    tokenizer: Annotated[str | None, Field(description="Tokenizer dir or hub id (default: the model's, if found).")] = None,
    warmup: Annotated[int, Field(ge=0, description="Warm-up requests before each run, not recorded.")] = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """Load-test an endpoint: per load point TTFT, TPOT, ITL and end-to-end latency percentiles, request and token
    throughput, goodput under the SLO and whether the client kept up. Reports progress per load point."""
    from pydantic import ValidationError

    from modeldeploy.tools.bench.schema import SLO, BenchConfig, Load, WorkloadSpec

    if sum(bool(x) for x in (concurrency, rate, sweep)) > 1:
        raise UserInputError("choose one of concurrency, rate, sweep")
    base, served = await asyncio.to_thread(endpoints.resolve, endpoint, model, deployment)
    try:
        if rate:
            loads = [Load(rate=r, max_concurrency=max_concurrency) for r in rate]
        else:
            loads = [Load(concurrency=c) for c in (concurrency or [1])]
        cfg = BenchConfig(endpoint=base, model=served, api=api, loads=loads, num_requests=num_requests,
                          duration_s=duration_s, warmup_requests=warmup,
                          workload=WorkloadSpec(input_len=input_len, output_len=output_len, seed=seed),
                          slo=SLO(ttft_ms=slo_ttft_ms, tpot_ms=slo_tpot_ms), tokenizer=tokenizer, seed=seed)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserInputError(f"invalid {'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}") from None
    relay = ProgressRelay(ctx)
    return await relay.run(_benchmark, cfg, sweep, BenchProgress(relay), deployment)


TOOLKIT = Toolkit(
    name="bench",
    summary="Load-test an OpenAI-compatible endpoint or a deployment: latency percentiles, throughput, goodput.",
    tools=(ToolSpec(bench_endpoint, "bench_endpoint", "Load-test an endpoint", open_world=True, long_running=True),),
)

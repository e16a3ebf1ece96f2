"""benchmark: load-test the new endpoint with the request's profile (docs/benchmarking.md).

Runs after the smoke test when the request asks for it. The result document goes into the
state and, by deployment, into the database with a regression table against the previous run.
A load test that fails is reported to the person who approves; it does not stop a deployment
whose smoke test passed.
"""

from __future__ import annotations

import asyncio
import importlib

from langgraph.runtime import Runtime

from modeldeploy.errors import ModelDeployError
from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployState
from modeldeploy.nodes.node_support import Step, emit
from modeldeploy.schemas.run import BenchProfile

NODE = "benchmark"


def bench_config(profile: BenchProfile, endpoint: str, model: str):
    from modeldeploy.tools.bench.schema import SLO, BenchConfig, Load, WorkloadSpec  # loaded with the runner

    return BenchConfig(endpoint=endpoint, model=model, api=profile.api,
                       loads=[Load(concurrency=c) for c in profile.concurrency], num_requests=profile.num_requests,
                       workload=WorkloadSpec(input_len=profile.input_len, output_len=profile.output_len),
                       slo=SLO(ttft_ms=profile.slo_ttft_ms, tpot_ms=profile.slo_tpot_ms))


class StreamProgress:
    """The runner's progress as custom stream events: a load point starts, each tenth of it, its result."""

    def __init__(self, runtime: Runtime):
        self.runtime, self.label, self.total, self.finished = runtime, "", 0, 0

    def start_run(self, load, total, duration_s) -> None:
        self.label, self.total, self.finished = load.label, total or 0, 0
        emit(self.runtime, NODE, "progress", f"{load.label}: {total or '?'} requests")

    def event(self, kind: str, record) -> None:
        if kind == "sent":
            return
        self.finished += 1
        if self.total and self.finished % max(self.total // 10, 1) == 0:
            emit(self.runtime, NODE, "progress", f"{self.label}: {self.finished}/{self.total}",
                 completed=self.finished, total=self.total)

    def end_run(self, result) -> None:
        emit(self.runtime, NODE, "progress", f"{self.label}: {summary_line(result)}")


def summary_line(run) -> str:
    return (f"{run.request_throughput:.2f} req/s, {run.output_token_throughput:.1f} tok/s, TTFT "
            f"{run.ttft_ms.mean or 0:.1f} ms, TPOT {run.tpot_ms.mean or 0:.2f} ms{'' if run.valid else ' (client-bound)'}")


async def benchmark(state: DeployState, runtime: Runtime[Context]) -> dict:
    step = Step(runtime, NODE)
    profile = state.request.benchmark
    if profile is None:
        return {"audit": [step.done("no load test asked for", "skipped")]}
    a = state.artifacts
    return await load_test(step, profile, a.endpoint, a.served_model_name, a.deployment_name,
                           (runtime.context or Context()).database_url)


async def load_test(step: Step, profile: BenchProfile, endpoint: str, model: str, deployment: str | None,
                    database_url: str | None = None) -> dict:
    """Run `profile` against the endpoint: the update {"benchmark": result document or {"error"}, "audit": [...]}.

    Shared by the deploy graph's node and the standalone `benchmark` graph. With a `deployment` the
    document is stored under it and compared with its previous run (the regression table).
    """
    # imported here, in a thread: importing reads files, and a plan never needs it
    run_benchmark = (await asyncio.to_thread(importlib.import_module, "modeldeploy.tools.bench.runner")).run_benchmark
    store_and_compare = (await asyncio.to_thread(importlib.import_module, "modeldeploy.tools.bench.store")).store_and_compare

    try:
        doc, _ = await run_benchmark(bench_config(profile, endpoint, model), StreamProgress(step.runtime))
        if deployment:
            doc.deployment = deployment
            doc.comparison = await asyncio.to_thread(store_and_compare, doc, database_url)
    except (ModelDeployError, OSError, ValueError) as exc:
        error = f"load test failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        return {"benchmark": {"error": error}, "audit": [step.done("load test", "failed", error)]}
    lines = [f"{r.label}: {summary_line(r)}" for r in doc.runs]
    return {"benchmark": doc.model_dump(mode="json"), "audit": [step.done(
        "load test", message="; ".join(lines), loads=len(doc.runs), valid=all(r.valid for r in doc.runs))]}

"""evaluate: run the request's evaluation suites against the new endpoint (docs/evaluation.md).

Runs after the benchmark. Each suite's summary (official and strict score, unparsed and
truncated rates, 95% interval, dataset and template hashes) goes into the state; the per-sample
records and the lm-evaluation-harness document are written under
MODELDEPLOY_HOME/evals/<deployment>/<suite>/, so a run resumed after a crash re-asks nothing it
already has. A suite that cannot run is reported and the next one runs; the deployment goes on.
"""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

from langgraph.runtime import Runtime

from modeldeploy import settings
from modeldeploy.errors import ModelDeployError
from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployState
from modeldeploy.nodes.node_support import Step, emit
from modeldeploy.schemas.run import EvalRequest

NODE = "evaluate"


def eval_out_dir(deployment: str, suite: str) -> Path:
    return settings.home_dir() / "evals" / deployment / Path(suite).stem


async def evaluate(state: DeployState, runtime: Runtime[Context]) -> dict:
    step = Step(runtime, NODE)
    if not state.request.evals:
        return {"audit": [step.done("no evaluation asked for", "skipped")]}
    a = state.artifacts
    return await run_suites(step, state.request.evals, a.endpoint, a.served_model_name, a.deployment_name,
                            (runtime.context or Context()).database_url)


async def run_suites(step: Step, evals: list[EvalRequest], endpoint: str, model: str, deployment: str | None,
                     database_url: str | None = None) -> dict:
    """Run each suite against the endpoint: the update {"evaluations": {suite: summary or {"error"}}, "audit": [...]}.

    Shared by the deploy graph's node and the standalone `evaluate` graph. With a `deployment` the samples
    and results go under MODELDEPLOY_HOME/evals/<deployment>/<suite>/ (a re-run resumes from them);
    without one nothing is written. With a deployment each clean run (no failed request) is also stored in
    the database (`modeldeploy eval list`), with the comparison against its previous run.
    """
    runtime = step.runtime
    # imported here, in a thread: importing reads files, and a plan never needs it
    runner = await asyncio.to_thread(importlib.import_module, "modeldeploy.tools.eval.runner")
    EvalConfig, arun_eval = runner.EvalConfig, runner.arun_eval
    store_eval = (await asyncio.to_thread(importlib.import_module, "modeldeploy.tools.eval.store")).store_eval

    results: dict[str, dict] = {}
    for wanted in evals:
        answered = 0

        def on_record(_record, suite=wanted.suite) -> None:
            nonlocal answered
            answered += 1
            if answered % 10 == 0:
                emit(runtime, NODE, "progress", f"{suite}: {answered} answers", completed=answered)

        cfg = EvalConfig(endpoint=endpoint, model=model, suite=wanted.suite,
                         data=Path(wanted.data) if wanted.data else None, limit=wanted.limit,
                         concurrency=wanted.concurrency,
                         out=eval_out_dir(deployment, wanted.suite) if deployment else None)
        try:
            run = await arun_eval(cfg, on_record)
        except (ModelDeployError, OSError, ValueError) as exc:
            results[wanted.suite] = {"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
            emit(runtime, NODE, "progress", f"{wanted.suite}: {results[wanted.suite]['error']}")
            continue
        results[wanted.suite] = run.summary.model_dump(mode="json")
        if deployment and run.summary.error_rate == 0:
            try:
                results[wanted.suite]["comparison"] = await asyncio.to_thread(store_eval, run.summary, deployment,
                                                                              database_url)
            except ModelDeployError as exc:
                results[wanted.suite]["comparison"] = {"error": str(exc).splitlines()[0]}
        emit(runtime, NODE, "progress", f"{wanted.suite}: {run.summary.score_official:.1%} official, "
                                        f"{run.summary.score_strict:.1%} strict over {run.summary.n}")
    failed = [s for s, r in results.items() if "error" in r]
    message = "; ".join(f"{s}: {r['error']}" if "error" in r else f"{s} {r['score_official']:.3f} (n={r['n']})"
                        for s, r in results.items())
    return {"evaluations": results, "audit": [step.done(
        "evaluated", "failed" if failed and len(failed) == len(results) else "ok", message, suites=list(results))]}

"""Toolkit `eval`: score an endpoint on a suite (MMLU-Pro, AIME 2025, GSM8K, catalog YAML suites), reproducibly.

What `modeldeploy eval` runs (`tools.eval.runner.run_eval`), in a worker thread;
every tenth answer is reported as MCP progress. With `out` the run writes
results_<suite>.json and samples_<suite>.jsonl and a rerun resumes from them.
The endpoint's API key, if any, is read from MODELDEPLOY_EVAL_API_KEY in the
server's environment (never an argument: arguments end up in client transcripts).
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Annotated, Any

from mcp.server.fastmcp import Context
from pydantic import Field

from modeldeploy.errors import UserInputError
from modeldeploy.mcp_server import endpoints
from modeldeploy.mcp_server.progress import ProgressRelay
from modeldeploy.mcp_server.registry import Toolkit, ToolSpec

API_KEY_ENV = "MODELDEPLOY_EVAL_API_KEY"
PROGRESS_EVERY = 10


class EvalProgress:
    """`on_record` callback of the runner: counts answers, relays every PROGRESS_EVERY-th."""

    def __init__(self, relay: ProgressRelay) -> None:
        self.relay, self.answered, self.lock = relay, 0, threading.Lock()

    def __call__(self, record: Any) -> None:
        with self.lock:
            self.answered += 1
            if self.answered == 1 or self.answered % PROGRESS_EVERY == 0:
                self.relay.post(f"{self.answered} answered")


def _evaluate(cfg: Any, progress: EvalProgress) -> dict[str, Any]:
    from modeldeploy.tools.eval.runner import run_eval

    run = run_eval(cfg, on_record=progress)
    summary = run.summary.model_dump(mode="json")
    failed = [r.error for r in run.records if r.error]
    if failed:
        summary["warning"] = (f"{len(failed)} of {run.summary.n} requests failed after retries (first: {failed[0]}); "
                              "scores count them wrong")
    return summary


async def eval_endpoint(
    suite: Annotated[str, Field(description="mmlu_pro, aime2025, gsm8k, a catalog suite (see list_eval_suites) or the "
                                            "path of a suite .yaml.")],
    ctx: Context,
    endpoint: Annotated[str | None, Field(description="Base URL of the server (http://host:port or .../v1).")] = None,
    model: Annotated[str | None, Field(description="Served model name.")] = None,
    deployment: Annotated[str | None, Field(description="A deployment name: its endpoint and model are used.")] = None,
    data: Annotated[str | None, Field(description="The suite's data pack: a JSONL/JSON/Parquet file or a directory "
                                                  "(built-in benchmarks need one; catalog suites ship theirs).")] = None,
    limit: Annotated[int | None, Field(ge=1, description="Only the first N questions.")] = None,
    concurrency: Annotated[int, Field(ge=1, le=1024, description="Requests in flight at once.")] = 8,
    repeats: Annotated[int | None, Field(ge=1, description="Samples per question (avg@n); default per suite.")] = None,
    n_shot: Annotated[int | None, Field(ge=0, le=10, description="Override the suite's few-shot count.")] = None,
    max_tokens: Annotated[int | None, Field(ge=1, description="Override the suite's max_tokens.")] = None,
    temperature: Annotated[float | None, Field(ge=0, description="Override the suite's temperature.")] = None,
    seed: Annotated[int | None, Field(description="Base seed sent with requests.")] = None,
    out: Annotated[str | None, Field(description="Directory for results and samples (a rerun resumes).")] = None,
) -> dict[str, Any]:
    """Evaluate an endpoint on a suite: official and strict scores with a 95% interval, unparsed, truncated and
    error rates, per-category scores, dataset and template hashes. Reports progress as answers arrive."""
    from pydantic import ValidationError

    from modeldeploy.tools.eval.runner import EvalConfig

    base, served = await asyncio.to_thread(endpoints.resolve, endpoint, model, deployment)
    try:
        cfg = EvalConfig(endpoint=base, model=served, suite=suite, data=Path(data).expanduser() if data else None,
                         limit=limit, concurrency=concurrency, repeats=repeats, n_shot=n_shot, max_tokens=max_tokens,
                         temperature=temperature, seed=seed, api_key=os.environ.get(API_KEY_ENV) or None,
                         out=Path(out).expanduser() if out else None)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserInputError(f"invalid {'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}") from None
    relay = ProgressRelay(ctx)
    return await relay.run(_evaluate, cfg, EvalProgress(relay))


async def list_eval_suites() -> dict[str, Any]:
    """List the evaluation suites: the built-in benchmarks (they need a data pack) and the catalog's YAML suites."""
    from modeldeploy.tools.eval.registry import builtin_names, catalog_names

    return {"suites": [{"name": n, "kind": "built-in"} for n in builtin_names()]
            + [{"name": n, "kind": "catalog"} for n in catalog_names()]}


TOOLKIT = Toolkit(
    name="eval",
    summary="Evaluate an endpoint or a deployment on a suite (MMLU-Pro, AIME 2025, GSM8K, YAML suites).",
    tools=(
        ToolSpec(eval_endpoint, "eval_endpoint", "Evaluate an endpoint on a suite", open_world=True,
                 long_running=True),
        ToolSpec(list_eval_suites, "list_eval_suites", "List evaluation suites", read_only=True, idempotent=True),
    ),
)

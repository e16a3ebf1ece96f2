"""Standalone graphs for an endpoint or a deployment that already exists: `benchmark`, `evaluate`, `test`, `logs`.

Each is a small explicit StateGraph with a typed pydantic input (LangGraph Studio and the HTTP API draw
their input forms from it) that reuses the deploy graph's own logic:

    benchmark: check_endpoint -> benchmark    (nodes.benchmark.load_test, the deploy graph's load test)
    evaluate:  check_endpoint -> evaluate     (nodes.evaluate.run_suites, the deploy graph's evaluation)
    test:      check_endpoint -> smoke_test   (the smoke test of the deploy graph: chat and completion,
                                               streaming and not, usage present)
    logs:      digest_log                     (`modeldeploy logs digest` and `modeldeploy diagnose`)

`check_endpoint` turns the URL into the base URL ending in /v1 and asks `/v1/models` whether the model is
served. Input of the right types that cannot be used (an endpoint that is not an http(s) URL, a server that
is down, an unknown suite, a missing log file) ends the run with `status: "failed"` and a one-line `error`,
never an exception. Every graph's output is its result, `status`, `error` and the `audit` trail.

`make_*_builder()` returns a fresh uncompiled builder (tests and host apps compile it with their own
checkpointer); `*_graph` is compiled without one (LangGraph Studio / `langgraph dev` and the HTTP API
supply theirs).
"""

from __future__ import annotations

import asyncio
import operator
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import httpx
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from modeldeploy.errors import ModelDeployError
from modeldeploy.graph.context import Context
from modeldeploy.nodes import benchmark as benchmark_node
from modeldeploy.nodes import evaluate as evaluate_node
from modeldeploy.nodes.node_support import Step, dump
from modeldeploy.schemas.run import DEPLOYMENT_NAME, AuditEntry, BenchProfile, EvalRequest
from modeldeploy.tools.endpoint.openai_client import served_models, server_version
from modeldeploy.tools.endpoint.openai_client import smoke_test as run_smoke
from modeldeploy.tools.logs.digest import DEFAULT_BUDGET, MIN_BUDGET



# -- inputs, outputs, states --------------------------------------------------------------------------------------

class EndpointInput(BaseModel):
    """An OpenAI-compatible server that is already running, and the model it serves."""

    endpoint: str = Field(description="Base URL of the OpenAI-compatible server: http(s)://host:port or .../v1.",
                          examples=["http://127.0.0.1:8000/v1"])
    model: str = Field(min_length=1, description="The served model name, as the server's /v1/models lists it.")


class Outcome(BaseModel):
    """How a standalone run ended, and what each node did."""

    status: Literal["ok", "failed"] | None = None
    """ok: the result is there; failed: `error` says why in one line."""
    error: str | None = None
    """Why the run failed, for people (one line)."""
    audit: Annotated[list[AuditEntry], operator.add] = Field(default_factory=list)
    """What each node did, how long it took, the outcome."""


class BenchmarkInput(EndpointInput):
    """Load-test an endpoint."""

    profile: BenchProfile = Field(default_factory=BenchProfile, description="The load points and request shape.")
    deployment: str | None = Field(default=None, pattern=DEPLOYMENT_NAME,
                                   description="Store the result under this deployment name and compare it with "
                                               "the deployment's previous run (the regression table).")


class BenchmarkOutput(Outcome):
    benchmark: dict[str, Any] | None = None
    """The result document (docs/benchmarking.md); `comparison` against the previous run of `deployment`."""


class BenchmarkState(BenchmarkInput, BenchmarkOutput):
    """The benchmark graph's state: its input, then its result."""


class EvaluateInput(EndpointInput):
    """Evaluate an endpoint on one or more suites."""

    evals: list[EvalRequest] = Field(min_length=1, max_length=16, description="The suites to run, in order.")
    deployment: str | None = Field(default=None, pattern=DEPLOYMENT_NAME,
                                   description="Keep samples and results under MODELDEPLOY_HOME/evals/<deployment>/ "
                                               "(a re-run resumes from them); none: nothing is written.")


class EvaluateOutput(Outcome):
    evaluations: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Per suite: the summary (official and strict score, unparsed rate, 95% interval, hashes) or {"error"}."""


class EvaluateState(EvaluateInput, EvaluateOutput):
    """The evaluate graph's state: its input, then its result."""


class TestInput(EndpointInput):
    """Smoke-test an endpoint: chat and completion, streaming and not, usage present."""

    __test__ = False  # not a pytest test class


class TestOutput(Outcome):
    __test__ = False

    smoke: dict[str, Any] | None = None
    """The checks (latency, usage, the first characters of each answer) and the version the server reports."""


class TestState(TestInput, TestOutput):
    """The test graph's state: its input, then its result."""

    __test__ = False


class LogsInput(BaseModel):
    """Digest and diagnose a server log."""

    source: str = Field(min_length=1, description="A log file on the server's machine, or a deployment name (its "
                                                  "process log, else its container's log).")
    budget: int = Field(default=DEFAULT_BUDGET, ge=MIN_BUDGET, le=100_000,
                        description="Hard limit of the digest in tokens (characters / 4).")
    tail: int = Field(default=20, ge=0, le=1000, description="Last lines kept verbatim.")


class LogsOutput(Outcome):
    digest: dict[str, Any] | None = None
    """`modeldeploy logs digest --json`: fatal, fatal_line, signatures, groups, tail, tokens; `text` rendered."""
    diagnosis: dict[str, Any] | None = None
    """`modeldeploy diagnose --json`: category, signature, fatal, fix or action_for_human, decided_by, reason."""


class LogsState(LogsInput, LogsOutput):
    """The logs graph's state: its input, then its result."""


# -- the endpoint check shared by benchmark, evaluate and test ----------------------------------------------------

def base_url(endpoint: str) -> str | None:
    """The base URL ending in /v1 of an http(s) URL with a host, else None."""
    try:
        parts = urlsplit(endpoint.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        return None
    base = endpoint.strip().rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


def failed(step: Step, action: str, error: str) -> dict[str, Any]:
    return {"status": "failed", "error": error, "audit": [step.done(action, "failed", error)]}


async def check_endpoint(state: EndpointInput, runtime: Runtime) -> dict[str, Any]:
    """The endpoint is an http(s) URL (normalised to its /v1 base) whose /v1/models lists the model."""
    step = Step(runtime, "check_endpoint")
    base = base_url(state.endpoint)
    if base is None:
        return failed(step, "check endpoint", f"endpoint must be an http(s) URL such as http://127.0.0.1:8000/v1, "
                                              f"got {state.endpoint[:200]!r}")
    async with httpx.AsyncClient() as client:
        models = await served_models(client, base)
    if not models:
        return failed(step, "check endpoint", f"no model listed at {base}/models: is the server up and loaded?")
    if state.model not in models:
        shown = ", ".join(str(m) for m in models[:10])
        return failed(step, "check endpoint", f"model {state.model!r} is not served by {base} (it serves: {shown})")
    return {"endpoint": base, "audit": [step.done("check endpoint", message=f"{base} serves {state.model}")]}


def route_after_check(state: Outcome) -> Literal["run", "__end__"]:
    """A usable endpoint goes on to the work; a failed check ends the run."""
    return END if state.status == "failed" else "run"


def _endpoint_builder(state: type[BaseModel], input_schema: type[BaseModel], output_schema: type[BaseModel],
                      node: Any, context_schema: type | None = None) -> StateGraph:
    builder = StateGraph(state, context_schema=context_schema, input_schema=input_schema, output_schema=output_schema)
    builder.add_node("check_endpoint", check_endpoint)
    builder.add_node(node.__name__, node)
    builder.add_edge(START, "check_endpoint")
    builder.add_conditional_edges("check_endpoint", route_after_check, {"run": node.__name__, END: END})
    builder.add_edge(node.__name__, END)
    return builder


# -- benchmark -----------------------------------------------------------------------------------------------------

async def benchmark(state: BenchmarkState, runtime: Runtime[Context]) -> dict[str, Any]:
    """The deploy graph's load test against the endpoint; stored and compared when `deployment` is named."""
    step = Step(runtime, benchmark_node.NODE)
    update = await benchmark_node.load_test(step, state.profile, state.endpoint, state.model, state.deployment,
                                            (runtime.context or Context()).database_url)
    error = update["benchmark"].get("error")
    return {**update, "status": "failed" if error else "ok", "error": error}


def make_benchmark_builder() -> StateGraph:
    """check_endpoint -> benchmark: load-test an existing endpoint."""
    return _endpoint_builder(BenchmarkState, BenchmarkInput, BenchmarkOutput, benchmark, Context)


# -- evaluate ------------------------------------------------------------------------------------------------------

async def evaluate(state: EvaluateState, runtime: Runtime) -> dict[str, Any]:
    """The deploy graph's evaluation: each suite in turn; a suite that cannot run is reported, the next one runs."""
    step = Step(runtime, evaluate_node.NODE)
    update = await evaluate_node.run_suites(step, state.evals, state.endpoint, state.model, state.deployment,
                                            getattr(runtime.context, "database_url", None))
    errors = [f"{suite}: {r['error']}" for suite, r in update["evaluations"].items() if "error" in r]
    return {**update, "status": "failed" if errors else "ok", "error": "; ".join(errors) or None}


def make_evaluate_builder() -> StateGraph:
    """check_endpoint -> evaluate: score an existing endpoint on evaluation suites."""
    return _endpoint_builder(EvaluateState, EvaluateInput, EvaluateOutput, evaluate)


# -- test ----------------------------------------------------------------------------------------------------------

async def smoke_test(state: TestState, runtime: Runtime) -> dict[str, Any]:
    """Chat and completion, streaming and not, usage present (the deploy graph's smoke test)."""
    step = Step(runtime, "smoke_test")
    result = await run_smoke(state.endpoint, state.model)
    result.stack = {"endpoint": state.endpoint, "framework_version": await server_version(state.endpoint)}
    if not result.passed:
        error = "smoke test failed: " + "; ".join(f"{c.name}: {c.error}" for c in result.checks if not c.ok)
        return {"smoke": dump(result), **failed(step, "smoke test", error)}
    latency = {c.name: round(c.latency_ms, 1) for c in result.checks}
    return {"smoke": dump(result), "status": "ok", "error": None, "audit": [step.done(
        "smoke test passed", message=", ".join(f"{k} {v} ms" for k, v in latency.items()), latency_ms=latency)]}


def make_test_builder() -> StateGraph:
    """check_endpoint -> smoke_test: does an existing endpoint answer as a deployment must?"""
    return _endpoint_builder(TestState, TestInput, TestOutput, smoke_test)


# -- logs ----------------------------------------------------------------------------------------------------------

def read_and_diagnose(source: str, budget: int, tail: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(digest, diagnosis) of a log file or a deployment's log, as `modeldeploy logs digest` and `diagnose` give
    them. Blocking (files, the Docker engine): call it in a thread."""
    from modeldeploy.tools.diagnosis.rules import diagnose
    from modeldeploy.tools.logs import digest_log
    from modeldeploy.tools.logs.sources import open_log_source

    lines, name = open_log_source(source)
    if not isinstance(lines, Path):
        lines = list(lines)  # a container's log: read once, digested twice
    digest = digest_log(lines, budget_tokens=budget, tail_lines=tail, source_name=name)
    # the diagnosis reads the digest `modeldeploy diagnose` reads (the default budget and tail)
    full = digest if (budget, tail) == (DEFAULT_BUDGET, 20) else digest_log(lines, source_name=name)
    diagnosis = {"source": name, **diagnose(full).model_dump(mode="json"), "digest_tokens": full.tokens,
                 "total_lines": full.total_lines}
    return {**digest.model_dump(mode="json"), "text": digest.render()}, diagnosis


async def digest_log(state: LogsState, runtime: Runtime) -> dict[str, Any]:
    """The log cut to the budget (fatal line, signatures, groups, tail) and the rules' diagnosis of it."""
    step = Step(runtime, "digest_log")
    try:
        digest, diagnosis = await asyncio.to_thread(read_and_diagnose, state.source, state.budget, state.tail)
    except (ModelDeployError, OSError, ValueError) as exc:
        return failed(step, "digest log", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    fix = diagnosis.get("fix")
    return {"digest": digest, "diagnosis": diagnosis, "status": "ok", "error": None, "audit": [step.done(
        "digest and diagnose", message=f"{diagnosis['category']}: " + (
            ", ".join(f"{k}={v}" for k, v in fix.items()) if fix else diagnosis.get("action_for_human") or ""),
        tokens=digest["tokens"], total_lines=digest["total_lines"], category=diagnosis["category"])]}


def make_logs_builder() -> StateGraph:
    """digest_log: a deployment's or a file's log to a digest and a diagnosis."""
    builder = StateGraph(LogsState, input_schema=LogsInput, output_schema=LogsOutput)
    builder.add_node("digest_log", digest_log)
    builder.add_edge(START, "digest_log")
    builder.add_edge("digest_log", END)
    return builder


benchmark_graph = make_benchmark_builder().compile(name="benchmark")
evaluate_graph = make_evaluate_builder().compile(name="evaluate")
test_graph = make_test_builder().compile(name="test")
logs_graph = make_logs_builder().compile(name="logs")
"""Compiled without a checkpointer: LangGraph Studio / `langgraph dev`, the HTTP API and host apps supply their own."""

__all__ = [
    "BenchmarkInput", "BenchmarkOutput", "BenchmarkState", "EvaluateInput", "EvaluateOutput", "EvaluateState",
    "LogsInput", "LogsOutput", "LogsState", "TestInput", "TestOutput", "TestState", "base_url", "benchmark_graph",
    "evaluate_graph", "logs_graph", "make_benchmark_builder", "make_evaluate_builder", "make_logs_builder",
    "make_test_builder", "read_and_diagnose", "test_graph",
]

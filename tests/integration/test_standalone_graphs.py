"""The standalone graphs (`benchmark`, `evaluate`, `test`, `logs`) run in-process against the simulator started
as a process (tiny model, loopback), under blockbuster (what `langgraph dev` enforces): no blocking call on the
event loop. Unusable input ends a run with `status: "failed"` and a one-line error, never an exception; the logs
graph gives what `modeldeploy logs digest` and `modeldeploy diagnose` give for the same saved vLLM log.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import pytest
from bench_servers import SimServer, free_port

from modeldeploy.graph import (
    Context,
    make_benchmark_builder,
    make_evaluate_builder,
    make_logs_builder,
    make_test_builder,
)

LOGS = Path(__file__).resolve().parents[1] / "fixtures" / "logs"
BF16_LOG = LOGS / "vllm_bf16_cc75.log"


@pytest.fixture(scope="module")
def sim():
    with SimServer(ttft_ms=20, tpot_ms=2) as server:
        yield server


@contextlib.asynccontextmanager
async def no_blocking_calls():
    """Blockbuster active for the body: a blocking call on the event loop raises BlockingError."""
    from blockbuster import BlockBuster

    blocker = BlockBuster()
    blocker.activate()
    try:
        yield
    finally:
        blocker.deactivate()


async def run(builder, inputs: dict, **kwargs) -> dict:
    graph = builder.compile()
    async with no_blocking_calls():
        return await graph.ainvoke(inputs, **kwargs)


def nodes_of(out: dict) -> list[str]:
    return [a["node"] for a in out["audit"]]


async def test_test_graph_smoke_tests_an_endpoint_given_without_v1(sim):
    out = await run(make_test_builder(), {"endpoint": sim.url.removesuffix("/v1") + "/", "model": sim.model})
    assert (out["status"], out["error"]) == ("ok", None)
    assert nodes_of(out) == ["check_endpoint", "smoke_test"]
    smoke = out["smoke"]
    assert smoke["passed"] is True and smoke["stack"]["endpoint"] == sim.url
    assert [c["name"] for c in smoke["checks"]] == ["chat", "chat_stream", "completion", "completion_stream"]
    assert all(c["ok"] and c["usage"]["completion_tokens"] > 0 and c["text"] for c in smoke["checks"])


async def test_benchmark_graph_stores_under_the_deployment_and_compares_with_the_previous_run(sim, tmp_path):
    inputs = {"endpoint": sim.url, "model": sim.model, "deployment": "md-standalone-bench",
              "profile": {"concurrency": [1, 2], "num_requests": 6, "input_len": 16, "output_len": 8}}
    context = Context(database_url=f"sqlite:///{tmp_path / 'bench.db'}")
    first = await run(make_benchmark_builder(), inputs, context=context)
    assert (first["status"], first["error"]) == ("ok", None), first["error"]
    assert nodes_of(first) == ["check_endpoint", "benchmark"]
    doc = first["benchmark"]
    assert [r["concurrency"] for r in doc["runs"]] == [1, 2]
    assert all(r["completed"] == 6 and r["failed"] == 0 for r in doc["runs"])
    assert doc["deployment"] == "md-standalone-bench" and doc["comparison"] == []
    second = await run(make_benchmark_builder(), inputs, context=context)
    assert second["status"] == "ok"
    assert second["benchmark"]["comparison"], "the second run of a deployment has a regression table"


async def test_benchmark_graph_without_a_deployment_stores_nothing(sim, tmp_path):
    inputs = {"endpoint": sim.url, "model": sim.model, "profile": {"concurrency": [1], "num_requests": 3,
                                                                   "output_len": 4}}
    db = tmp_path / "bench.db"
    out = await run(make_benchmark_builder(), inputs, context=Context(database_url=f"sqlite:///{db}"))
    assert out["status"] == "ok" and out["benchmark"]["runs"][0]["completed"] == 3
    assert out["benchmark"]["deployment"] is None and not out["benchmark"]["comparison"]
    assert not db.exists()


async def test_evaluate_graph_scores_each_suite_and_reports_an_unknown_one(sim, isolated_home):
    inputs = {"endpoint": sim.url, "model": sim.model, "deployment": "md-standalone-eval",
              "evals": [{"suite": "addition", "limit": 5}, {"suite": "no_such_suite"}]}
    out = await run(make_evaluate_builder(), inputs)
    assert nodes_of(out) == ["check_endpoint", "evaluate"]
    addition = out["evaluations"]["addition"]
    assert addition["n"] == 5 and 0.0 <= addition["score_official"] <= 1.0 and addition["dataset_sha256"]
    assert "unknown suite 'no_such_suite'" in out["evaluations"]["no_such_suite"]["error"]
    assert out["status"] == "failed" and out["error"].startswith("no_such_suite: unknown suite")
    assert "\n" not in out["error"] and "Traceback" not in out["error"]
    # with a deployment the samples are kept where the deploy graph keeps them (a re-run resumes)
    assert (isolated_home / "evals" / "md-standalone-eval" / "addition" / "results_addition.json").is_file()


@pytest.mark.parametrize("make", [make_benchmark_builder, make_evaluate_builder, make_test_builder],
                         ids=["benchmark", "evaluate", "test"])
@pytest.mark.parametrize("endpoint", ["ftp://127.0.0.1:8000/v1", "127.0.0.1:8000", "http://:8000/v1",
                                      "http://127.0.0.1:port/v1"],
                         ids=["ftp", "no-scheme", "no-host", "bad-port"])
async def test_an_endpoint_that_is_not_an_http_url_is_a_clear_error_result(make, endpoint):
    inputs = {"endpoint": endpoint, "model": "m", "evals": [{"suite": "addition"}]}
    out = await run(make(), inputs)
    assert out["status"] == "failed"
    assert out["error"] == f"endpoint must be an http(s) URL such as http://127.0.0.1:8000/v1, got {endpoint!r}"
    assert nodes_of(out) == ["check_endpoint"]  # nothing was sent anywhere


async def test_a_server_that_is_down_or_serves_another_model_is_a_clear_error_result(sim):
    down = f"http://127.0.0.1:{free_port()}/v1"
    out = await run(make_test_builder(), {"endpoint": down, "model": sim.model})
    assert out["status"] == "failed" and "smoke" not in out
    assert out["error"] == f"no model listed at {down}/models: is the server up and loaded?"
    out = await run(make_benchmark_builder(), {"endpoint": sim.url, "model": "not-this-one"})
    assert out["status"] == "failed" and "benchmark" not in out
    assert out["error"] == f"model 'not-this-one' is not served by {sim.url} (it serves: {sim.model})"


async def test_logs_graph_gives_the_digest_and_the_diagnosis_of_a_saved_vllm_failure():
    from modeldeploy.cli.diagnose import run_diagnosis
    from modeldeploy.tools.logs import digest_log

    out = await run(make_logs_builder(), {"source": str(BF16_LOG), "budget": 400})
    assert (out["status"], out["error"]) == ("ok", None)
    digest, diagnosis = out["digest"], out["diagnosis"]
    assert "Bfloat16 is only supported on GPUs with compute capability of at least 8.0" in digest["fatal"]
    assert "bf16_unsupported" in digest["signatures"] and 0 < digest["tokens"] <= 400
    assert digest["text"].count("\n") > 3 and "Bfloat16" in digest["text"]
    # exactly what `modeldeploy logs digest --budget 400 --json` and `modeldeploy diagnose --json` print
    expected = digest_log(BF16_LOG, budget_tokens=400, source_name=str(BF16_LOG)).model_dump(mode="json")
    assert {k: v for k, v in digest.items() if k != "text"} == json.loads(json.dumps(expected))
    cli = run_diagnosis(BF16_LOG)
    assert diagnosis["category"] == cli["category"] == "dtype_unsupported"
    assert diagnosis["fatal"] == cli["fatal"] and "Bfloat16 is only supported" in diagnosis["fatal"]
    assert diagnosis["fix"] == cli["fix"] == {"dtype": "float16"} and diagnosis["decided_by"] == "rules"
    assert diagnosis["fatal_line"] == cli["fatal_line"]


async def test_logs_graph_reads_a_deployments_log_by_name(isolated_home):
    log_dir = isolated_home / "deployments" / "md-crashed"
    log_dir.mkdir(parents=True)
    shutil.copy(LOGS / "vllm_kv_cache_too_small.log", log_dir / "server.log")
    out = await run(make_logs_builder(), {"source": "md-crashed"})
    assert out["status"] == "ok"
    assert out["digest"]["source"].startswith("deployment md-crashed")
    assert "maximum number of tokens that can be stored in KV cache" in out["digest"]["fatal"]
    assert out["diagnosis"]["category"] == "oom_or_kv_cache" and out["diagnosis"]["fix"] == {"max_model_len": 115968}


@pytest.mark.parametrize("source, says", [
    ("/nonexistent/server.log", "no such log file: /nonexistent/server.log"),
    ("not a name!", "'not a name!' is neither a log file nor a deployment name"),
], ids=["missing-file", "bad-name"])
async def test_logs_graph_bad_source_is_a_clear_error_result(source, says):
    out = await run(make_logs_builder(), {"source": source})
    assert (out["status"], out["error"]) == ("failed", says)
    assert "digest" not in out and "diagnosis" not in out


async def test_logs_graph_binary_file_is_a_clear_error_result(tmp_path):
    blob = tmp_path / "core.log"
    blob.write_bytes(b"\x00\x01\x02" * 100)
    out = await run(make_logs_builder(), {"source": str(blob)})
    assert out["status"] == "failed" and out["error"] == f"{blob} is a binary file, not a text log"

"""Benchmark documents stored by deployment (real SQLite, migrated to 0003) and the regression table."""

from __future__ import annotations

from sqlalchemy import inspect

from modeldeploy.tools.bench.schema import BenchDocument, RunResult, Stats, Validity
from modeldeploy.tools.bench.store import compare, history, store_and_compare


def run(label: str, throughput: float, ttft: float, valid: bool = True) -> RunResult:
    s = lambda v: Stats(count=10, mean=v, median=v, p90=v, p95=v, p99=v, max=v)  # noqa: E731
    return RunResult(concurrency=4, label=label, completed=10, failed=0, error_rate=0.0, duration_s=1.0,
                     request_throughput=throughput, output_token_throughput=throughput * 32,
                     input_token_throughput=0, total_token_throughput=0, total_input_tokens=0, total_output_tokens=320,
                     output_tokens_source="usage", ttft_ms=s(ttft), tpot_ms=s(10.0), itl_ms=s(10.0),
                     itl_chunk_ms=s(10.0), e2e_ms=s(ttft + 310), input_len=s(32), output_len=s(32), valid=valid,
                     validity=Validity(achieved_rate=1, achieved_concurrency=4, dispatch_lag_ms=Stats(),
                                       loop_lag_ms=Stats(), client_cpu_percent=5, client_cpu_peak_percent=6))


def doc(*runs: RunResult) -> BenchDocument:
    return BenchDocument(endpoint="http://x/v1", model="m", api="chat", config={}, runs=list(runs), deployment="dep-a")


def test_the_second_run_of_a_deployment_is_compared_with_the_first(db_url):
    url = db_url
    assert store_and_compare(doc(run("concurrency 4", 10.0, 200.0)), url) == []
    table = store_and_compare(doc(run("concurrency 4", 7.0, 205.0), run("concurrency 8", 12, 300)), url)
    by_metric = {r["metric"]: r for r in table}
    assert by_metric["request_throughput"]["verdict"] == "regression"
    assert round(by_metric["request_throughput"]["change_percent"]) == -30
    assert by_metric["ttft_ms.mean"]["verdict"] == "same"
    assert {r["run"] for r in table} == {"concurrency 4"}  # the new load point has nothing to compare with
    assert [len(d["runs"]) for d in history("dep-a", url)] == [2, 1]
    from modeldeploy.experience_store import open_database

    with open_database(url) as db:
        assert "bench_run" in inspect(db.engine).get_table_names()


def test_faster_is_an_improvement_and_an_invalid_run_is_noted():
    before = doc(run("concurrency 4", 10.0, 200.0)).model_dump(mode="json")
    table = compare(before, doc(run("concurrency 4", 10.5, 150.0, valid=False)))
    ttft = next(r for r in table if r["metric"] == "ttft_ms.p99")
    assert ttft["verdict"] == "improvement" and "client-bound" in ttft["note"]

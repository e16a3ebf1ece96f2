"""`modeldeploy bench` as a user runs it: --json prints one document with the promised keys, --out writes
the JSON, CSV and HTML, --deployment stores and compares, bad input is one line and exit 2."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
from bench_servers import SimServer

CLI = [sys.executable, "-m", "modeldeploy.cli.main", "bench"]
STATS = ("mean", "median", "p90", "p99")


@pytest.fixture(scope="module")
def sim():
    with SimServer(ttft_ms=20, tpot_ms=2) as server:
        yield server


def bench(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def test_json_output_has_a_runs_list_with_every_promised_field(sim, tmp_path):
    out = tmp_path / "res"
    p = bench("--endpoint", sim.url, "--model", sim.model, "--concurrency", "1,4", "--num-requests", "12",
              "--input-len", "16", "--output-len", "8", "--slo", "ttft=500,tpot=50", "--json", "--out", str(out),
              "--deployment", "sim-a")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert [r["concurrency"] for r in doc["runs"]] == [1, 4]
    for run in doc["runs"]:
        for key in ("completed", "failed", "duration_s", "request_throughput", "output_token_throughput", "goodput",
                    "valid", "validity"):
            assert key in run, key
        for metric in ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"):
            assert all(isinstance(run[metric][s], float) for s in STATS), metric
        assert run["completed"] == 12 and run["output_len"]["mean"] == 8
        assert run["goodput"]["requests"] == 12 and isinstance(run["valid"], bool)
    rows = list(csv.DictReader((out / "requests.csv").open()))
    assert len(rows) == 24 and {r["run"] for r in rows} == {"concurrency 1", "concurrency 4"}
    assert json.loads((out / "bench.json").read_text())["runs"][0]["label"] == "concurrency 1"
    page = (out / "report.html").read_text()
    assert page.count("<svg") >= 5 and "<script" not in page  # self-contained charts
    again = bench("--endpoint", sim.url, "--model", sim.model, "--concurrency", "1,4", "--num-requests", "12",
                  "--input-len", "16", "--output-len", "8", "--json", "--deployment", "sim-a")
    assert again.returncode == 0, again.stderr
    table = json.loads(again.stdout)["comparison"]
    assert {r["run"] for r in table} == {"concurrency 1", "concurrency 4"}


def test_a_rate_run_reports_rate_and_the_human_summary_is_a_table(sim):
    p = bench("--endpoint", sim.url, "--model", sim.model, "--rate", "20", "--num-requests", "20", "--output-len", "4")
    assert p.returncode == 0, p.stderr
    assert "rate 20/s" in p.stdout and "TTFT" in p.stdout


@pytest.mark.parametrize("args, message", [
    (["--concurrency", "0"], "--concurrency"),
    (["--concurrency", "2", "--rate", "3"], "choose one"),
    (["--slo", "speed=3"], "--slo"),
    (["--dataset", "/nonexistent.jsonl"], "no such file"),
    (["--max-concurrency", "3"], "caps a --rate"),
], ids=["zero", "two-shapes", "bad-slo", "no-dataset", "cap-without-rate"])
def test_bad_input_is_one_line_and_exit_2(sim, args, message):
    p = bench("--endpoint", sim.url, "--model", sim.model, *args)
    assert p.returncode == 2 and message in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_an_endpoint_that_does_not_answer_is_one_line_and_exit_1():
    from bench_servers import free_port

    p = bench("--endpoint", f"http://127.0.0.1:{free_port()}", "--model", "m")
    assert p.returncode == 1 and p.stderr.startswith("error:") and "Traceback" not in p.stderr

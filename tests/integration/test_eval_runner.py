"""The runner over real HTTP (a loopback server): bounded concurrency, retries, resume after a crash, avg@n."""

from __future__ import annotations

import asyncio
import gc
import json
import re
import threading
import time

import pytest
from eval_packs import aime_pack, write_jsonl
from eval_server import DROP, AnswerServer, Fail, Reply

import modeldeploy.tools.eval.runner as runner
from modeldeploy.errors import UserInputError
from modeldeploy.tools.eval.runner import EvalConfig, arun_eval, run_eval


def addition_pack(tmp_path, n: int):
    rows = [{"id": f"q{i}", "a": i, "b": i + 1, "answer": str(2 * i + 1)} for i in range(n)]
    return write_jsonl(tmp_path / "add.jsonl", rows)


def oracle(ask) -> str:
    a, b = map(int, re.findall(r"\d+", ask.prompt))
    return str(a + b)


def config(server, tmp_path, **kw) -> EvalConfig:
    kw.setdefault("suite", "addition")
    if "data" not in kw:
        kw["data"] = addition_pack(tmp_path, 20)
    return EvalConfig(endpoint=server.url, model=server.model, backoff_s=0, **kw)


def test_requests_run_exactly_concurrency_at_a_time(tmp_path):
    with AnswerServer(oracle, gate=4) as server:  # nobody is answered until 4 are in flight together
        run = run_eval(config(server, tmp_path, concurrency=4))
    assert server.max_in_flight == 4
    assert run.summary.score_official == 1.0 and run.summary.n == 20 and run.summary.ci95 == [1.0, 1.0]


def test_transport_errors_and_5xx_are_retried_and_4xx_is_not(tmp_path):
    def flaky(ask):
        a = int(re.findall(r"\d+", ask.prompt)[0])
        if a == 3:
            return Fail(400, "bad request")
        if ask.attempt == 1:
            return DROP if a % 2 else Fail(503, "overloaded")
        return oracle(ask)

    with AnswerServer(flaky) as server:
        run = run_eval(config(server, tmp_path, concurrency=8, retries=2))
        asked_3 = server.times_asked("What is 3 plus 4?")
    by_id = {r.doc_id: r for r in run.records}
    assert asked_3 == 1 and by_id["q3"].error.startswith("HTTP 400") and not by_id["q3"].correct
    assert all(r.attempts == 2 and r.correct for r in run.records if r.doc_id != "q3")
    assert run.summary.error_rate == pytest.approx(1 / 20) and run.summary.unparsed_rate == 0
    assert run.summary.score_official == pytest.approx(19 / 20)


def test_a_crashed_run_resumes_from_its_samples_file(tmp_path):
    out = tmp_path / "out"
    with AnswerServer(oracle) as server:
        first = run_eval(config(server, tmp_path, out=out))
    lines = (out / "samples_addition.jsonl").read_text().splitlines(keepends=True)
    # what a SIGKILL leaves: the first 7 records and half of the 8th
    (out / "samples_addition.jsonl").write_text("".join(lines[:7]) + lines[7][:40])
    with AnswerServer(oracle) as server:
        resumed = run_eval(config(server, tmp_path, out=out))
        asked = len(server.bodies)
    assert asked == 13 and resumed.summary.resumed == 7
    assert resumed.summary.score_official == first.summary.score_official == 1.0
    records = [json.loads(x) for x in (out / "samples_addition.jsonl").read_text().splitlines()]
    assert [r["doc_id"] for r in records] == [f"q{i}" for i in range(20)]  # compacted, in order, no partial line


def test_a_changed_prompt_is_asked_again_on_resume(tmp_path):
    out = tmp_path / "out"
    data = addition_pack(tmp_path, 5)
    with AnswerServer(oracle) as server:
        run_eval(config(server, tmp_path, out=out, data=data))
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    rows[0]["b"] = 50
    rows[0]["answer"] = "50"
    write_jsonl(data, rows)
    with AnswerServer(oracle) as server:
        again = run_eval(config(server, tmp_path, out=out, data=data))
        asked = [b["messages"][-1]["content"] for b in server.bodies]
    assert asked == ["What is 0 plus 50?"] and again.summary.resumed == 4
    assert again.summary.dataset_sha256 != "" and again.summary.score_official == 1.0


def test_aime_avg_at_n_sends_one_seed_per_repeat_and_resamples_problems(tmp_path):
    path, answers = aime_pack(tmp_path / "aime.jsonl", n=6)

    def solver(ask):
        value = int(re.search(r"marked integer (\d+)", ask.prompt).group(1))
        # right on seed 0 only; the reasoning field is ignored
        return Reply(rf"\boxed{{{value if ask.body['seed'] == 0 else value + 1}}}", reasoning=rf"\boxed{{{value}}}")

    with AnswerServer(solver) as server:
        run = run_eval(EvalConfig(endpoint=server.url, model=server.model, suite="aime2025", data=path, repeats=3,
                                  max_tokens=256, backoff_s=0))
        seeds = sorted(b["seed"] for b in server.bodies)
        temperatures = {b["temperature"] for b in server.bodies}
    assert seeds == [0] * 6 + [1] * 6 + [2] * 6 and temperatures == {0.6}
    s = run.summary
    assert (s.n, s.n_docs, s.repeats) == (18, 6, 3)
    assert s.score_official == pytest.approx(1 / 3) and s.ci95 == [pytest.approx(1 / 3)] * 2  # every problem 1/3
    assert s.unparsed_rate == 0 and s.stderr == 0


def test_gsm8k_limit_and_the_served_model_check(tmp_path):
    from eval_packs import gsm8k_pack

    path, answers = gsm8k_pack(tmp_path / "test.jsonl", n=5)
    with AnswerServer(lambda ask: f"The final answer is {answers[0]:,}") as server:
        run = run_eval(EvalConfig(endpoint=server.url, model=server.model, suite="gsm8k", data=path, limit=2,
                                  backoff_s=0))
        with pytest.raises(UserInputError, match="not served"):
            run_eval(EvalConfig(endpoint=server.url, model="other", suite="gsm8k", data=path))
    assert run.summary.n == 2 and run.summary.score_official == 0.5 and run.summary.score_strict == 0.5
    assert run.document["n-samples"]["gsm8k"] == {"original": 5, "effective": 2}
    assert run.document["results"]["gsm8k"]["exact_match,flexible-extract"] == 0.5


def test_a_run_answered_in_full_is_rebuilt_from_its_samples_without_the_endpoint(tmp_path):
    out = tmp_path / "out"
    with AnswerServer(oracle) as server:
        first = run_eval(config(server, tmp_path, out=out))
        url = server.url
    samples = (out / "samples_addition.jsonl").read_text()
    # the server is gone: nothing is left to ask, so its model check is dropped rather than failing the run
    again = run_eval(EvalConfig(endpoint=url, model=server.model, suite="addition", data=tmp_path / "add.jsonl",
                                out=out))
    assert again.summary.resumed == 20 and again.summary.score_official == first.summary.score_official == 1.0
    assert (out / "samples_addition.jsonl").read_text() == samples
    assert json.loads((out / "results_addition.json").read_text())["results"]["addition"]


def test_every_answer_reaches_the_samples_file_in_order_and_the_results_file_is_written(tmp_path):
    out = tmp_path / "out"
    with AnswerServer(oracle) as server:  # 20 answers in well under the appender's 0.1 s hand-off: all still pending
        run = run_eval(config(server, tmp_path, out=out, concurrency=20))
    lines = [json.loads(x) for x in (out / "samples_addition.jsonl").read_text().splitlines()]
    assert [(r["doc_id"], r["correct"]) for r in lines] == [(f"q{i}", True) for i in range(20)]
    assert [r.doc_id for r in run.records] == [f"q{i}" for i in range(20)]
    document = json.loads((out / "results_addition.json").read_text())
    assert document["n-samples"]["addition"] == {"original": 20, "effective": 20}


def test_a_bad_pack_is_reported_before_an_unreachable_endpoint(tmp_path):
    bad = tmp_path / "add.jsonl"
    bad.write_text('{"id": "q0", "a": 1, "b": 2, "answer": "3"}\n{not json\n')
    with AnswerServer(oracle) as server:
        url = server.url  # closed: nothing listens there any more
    with pytest.raises(UserInputError, match=r"add.jsonl:2: not JSON"):
        run_eval(EvalConfig(endpoint=url, model="m", suite="addition", data=bad))


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("eval-records-")]


async def test_a_failing_callback_ends_the_run_with_its_own_error_and_leaves_no_task_or_thread_behind(tmp_path):
    seen = []

    def on_record(record) -> None:
        seen.append(record)
        if len(seen) == 3:
            raise RuntimeError("the progress display broke")

    loop = asyncio.get_running_loop()
    unhandled: list[dict] = []
    loop.set_exception_handler(lambda _, context: unhandled.append(context))
    try:
        with AnswerServer(oracle) as server:
            with pytest.raises(RuntimeError, match="the progress display broke"):  # itself, not an ExceptionGroup
                await arun_eval(config(server, tmp_path, out=tmp_path / "out", concurrency=4), on_record=on_record)
        assert asyncio.all_tasks() == {asyncio.current_task()}
        gc.collect()  # a worker left running into the closed session dies with an error nobody retrieves
        assert not unhandled, [c.get("message") for c in unhandled]
    finally:
        loop.set_exception_handler(None)
    assert not writer_threads()  # the samples file was closed


async def test_a_run_cancelled_while_reading_its_pack_closes_the_samples_file_it_opened(tmp_path, monkeypatch):
    planned, release = threading.Event(), threading.Event()
    real_plan_run = runner.plan_run

    def slow_plan_run(cfg):
        plan = real_plan_run(cfg)  # the samples file is open and its writer thread started
        planned.set()
        release.wait(10)
        return plan

    monkeypatch.setattr(runner, "plan_run", slow_plan_run)
    with AnswerServer(oracle) as server:
        run = asyncio.ensure_future(arun_eval(config(server, tmp_path, out=tmp_path / "out")))
        assert await asyncio.to_thread(planned.wait, 10)
        assert writer_threads()
        run.cancel()  # what stopping a graph run does to its evaluate node
        with pytest.raises(asyncio.CancelledError):
            await run
        release.set()  # the thread finishes the plan nobody will use
        deadline = time.monotonic() + 10
        while writer_threads():
            assert time.monotonic() < deadline, "the abandoned samples file was left open"
            await asyncio.sleep(0.01)
        assert not server.bodies  # nothing was asked

"""Run a suite against an OpenAI-compatible endpoint: a bounded pool of concurrent requests, each answer scored
and appended to the per-sample file as it arrives, then the summary and the lm-eval document.

Steps: 1. bind the suite to its pack; 2. take the records a previous (crashed) run left in --out; 3. ask the rest,
at most `concurrency` at a time; 4. strip reasoning, score, record; 5. aggregate and write.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from modeldeploy.errors import ModelDeployError, UserInputError
# The suite modules (and YAML with them) are imported with the runner, not by the first `load_suite` inside a run:
# the first run of a process would otherwise pay ~15 ms of imports on its clock (bench/eval_client_overhead.py).
from modeldeploy.tools.eval import aime, custom, gsm8k, mmlu_pro, stats  # noqa: F401
from modeldeploy.tools.eval.client import Answer, base_url, chat, open_session, served_models
from modeldeploy.tools.eval.reasoning import split_reasoning
from modeldeploy.tools.eval.records import Appender, compact, read_records, samples_path
from modeldeploy.tools.eval.registry import load_suite
from modeldeploy.tools.eval.results import git_hash, lm_eval_document, write_results
from modeldeploy.tools.eval.schema import EvalSummary, SampleRecord
from modeldeploy.tools.eval.suite import Doc, Prepared, Suite, messages_hash


class EvalConfig(BaseModel):
    """One evaluation run (what `modeldeploy eval` and the evaluate node fill in)."""

    endpoint: str
    model: str
    suite: str
    data: Path | None = None
    fewshot: Path | None = None
    limit: int | None = Field(None, ge=1)
    concurrency: int = Field(8, ge=1, le=1024)
    repeats: int | None = Field(None, ge=1)
    n_shot: int | None = Field(None, ge=0, le=10)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0)
    seed: int | None = None
    api_key: str | None = None
    timeout_s: float = Field(600.0, gt=0)
    retries: int = Field(4, ge=0)
    backoff_s: float = Field(0.5, ge=0)
    check_model: bool = True
    out: Path | None = None


class EvalRun(BaseModel):
    """The summary plus the records (kept in memory for callers such as the graph node)."""

    summary: EvalSummary
    records: list[SampleRecord]
    document: dict


def configure(cfg: EvalConfig) -> Suite:
    suite = load_suite(cfg.suite)
    if cfg.n_shot is not None:
        suite.n_shot = cfg.n_shot
    if cfg.repeats is not None:
        suite.repeats = cfg.repeats
    gen = suite.generation
    updates = {k: v for k, v in (("max_tokens", cfg.max_tokens), ("temperature", cfg.temperature),
                                 ("seed", cfg.seed)) if v is not None}
    suite.generation = gen.model_copy(update=updates)
    return suite


def payload(cfg: EvalConfig, suite: Suite, messages: list[dict[str, str]], repeat: int) -> dict:
    gen = suite.generation
    body = {"model": cfg.model, "messages": messages, "temperature": gen.temperature, "top_p": gen.top_p,
            "max_tokens": gen.max_tokens}
    if gen.stop:
        body["stop"] = gen.stop
    if gen.seed is not None:
        body["seed"] = gen.seed + repeat
    return body


def score_answer(suite: Suite, doc: Doc, repeat: int, prompt_hash: str, answer: Answer) -> SampleRecord:
    common = {"doc_id": doc.id, "repeat": repeat, "prompt_hash": prompt_hash, "target": doc.target,
              "category": doc.category, "finish_reason": answer.finish_reason, "error": answer.error,
              "attempts": answer.attempts, "latency_s": round(answer.latency_s, 4), "usage": answer.usage}
    if answer.error is not None:
        return SampleRecord(**common)
    text, inline = split_reasoning(answer.content)
    reasoning = "\n".join(t for t in (answer.reasoning, inline) if t)
    score = suite.score(doc, text)
    return SampleRecord(**common, response=text, reasoning=reasoning or None, extracted=score.extracted,
                        correct=score.correct, correct_strict=score.correct_strict, unparsed=score.unparsed,
                        method=score.method, truncated=answer.finish_reason == "length")


async def check_served(session, base: str, model: str) -> None:
    try:
        served = await served_models(session, base)
    except (ConnectionError, RuntimeError) as exc:
        raise ModelDeployError(str(exc)) from None
    if model not in served:
        raise UserInputError(f"model {model!r} is not served by {base} (it serves: {', '.join(served) or 'nothing'})")


Prompt = tuple[str, list[dict[str, str]]]  # the messages' hash, the messages
Job = tuple[Doc, int, Prompt | None]  # the document, the repeat, its prompt when already built


def prompt_for(suite: Suite, prepared: Prepared, doc: Doc) -> Prompt:
    """A document's messages and their hash (what resume compares to tell an unchanged prompt)."""
    messages = suite.messages(doc, prepared)
    return messages_hash(messages), messages


@dataclass
class Plan:
    """A run bound to its data: the suite and pack, what a previous run already answered, what is left to ask."""

    suite: Suite
    prepared: Prepared
    docs: list[Doc]
    path: Path | None
    done: dict[tuple[str, int], SampleRecord]
    jobs: list[Job]
    appender: Appender | None
    commit: str | None  # this checkout's commit, for the lm-eval document's git_hash


def plan_run(cfg: EvalConfig) -> Plan:
    """Steps 1-2 (blocking file work: run it in a thread): the suite bound to its pack, the records a previous run
    left in --out that still hold (same prompt, no error), the jobs left, the samples file opened for them, and
    the commit (read from .git: one thread hop for all of it)."""
    suite = configure(cfg)
    prepared = suite.prepare(cfg.data, cfg.fewshot)
    docs = prepared.docs[: cfg.limit] if cfg.limit else prepared.docs
    ids = [d.id for d in docs]
    if len(set(ids)) != len(ids):
        raise UserInputError(f"{prepared.pack.path}: question ids are not unique")
    path = samples_path(cfg.out, suite.name) if cfg.out else None
    previous = read_records(path) if path else {}
    done: dict[tuple[str, int], SampleRecord] = {}
    jobs: list[Job] = []
    for doc in docs:
        if not previous:  # the prompt is built when its request goes out (1,000 prompts: ~3 ms before the first)
            jobs.extend((doc, repeat, None) for repeat in range(suite.repeats))
            continue
        prompt = prompt_for(suite, prepared, doc)
        for repeat in range(suite.repeats):
            old = previous.get((doc.id, repeat))
            if old is not None and old.error is None and old.prompt_hash == prompt[0]:
                done[old.key] = old
            else:
                jobs.append((doc, repeat, prompt))
    appender = Appender(path) if path and jobs else None
    return Plan(suite, prepared, docs, path, done, jobs, appender, git_hash())


async def ask_all(session, cfg: EvalConfig, plan: Plan, on_record: Callable[[SampleRecord], None] | None
                  ) -> list[SampleRecord]:
    """Step 3-4: `concurrency` workers take jobs from a shared queue, over one session.

    Each answer is scored in the loop and its line queued for the samples file (records.Appender: the writer thread
    gets the lines in batches, at most every 0.1 s).
    """
    url = f"{base_url(cfg.endpoint)}/chat/completions"
    suite, prepared, jobs, appender = plan.suite, plan.prepared, plan.jobs, plan.appender
    queue: asyncio.Queue = asyncio.Queue()
    for index, job in enumerate(jobs):
        queue.put_nowait((index, job))
    results: list[SampleRecord | None] = [None] * len(jobs)

    async def worker() -> None:
        while True:
            try:
                index, (doc, repeat, prompt) = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            prompt_hash, messages = prompt or prompt_for(suite, prepared, doc)
            answer = await chat(session, url, payload(cfg, suite, messages, repeat), retries=cfg.retries,
                                backoff_s=cfg.backoff_s)
            record = score_answer(suite, doc, repeat, prompt_hash, answer)
            if appender is not None:
                appender.write(record)
            if on_record is not None:
                on_record(record)
            results[index] = record

    workers = [asyncio.ensure_future(worker()) for _ in range(min(cfg.concurrency, len(jobs)))]
    try:
        await asyncio.gather(*workers)
    except BaseException:  # one failed (or the run was cancelled): stop the others before the session closes
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    return [r for r in results if r is not None]


def run_eval(cfg: EvalConfig, on_record: Callable[[SampleRecord], None] | None = None,
             loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None) -> EvalRun:
    """Run the suite (blocking); resumes from `cfg.out`'s samples file when one is there.

    `loop_factory` makes the event loop (the CLI passes `uvloop.new_event_loop` when uvloop is installed)."""
    done: list[EvalRun] = []

    async def main() -> None:
        # The run is handed out through `done`, not as the task's result: when asyncio.run restores the SIGINT
        # handler it formats the main task's repr, result included (~40 ms for 1,000 records).
        done.append(await arun_eval(cfg, on_record))

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())
    return done[0]


async def arun_eval(cfg: EvalConfig, on_record: Callable[[SampleRecord], None] | None = None) -> EvalRun:
    """Run the suite inside a running event loop (the graph's evaluate node); file work runs in threads.

    What comes before the first request and after the last answer lands on the wall time of every run (1,000
    questions at concurrency 32 take ~1.7 s against a 50 ms server: each 17 ms is a point of client overhead), so:
    the endpoint's model list is asked for while the pack is read in a thread, prompts are built as their requests
    go out, and after the last answer the session closes while the aggregates are computed and the files written
    in one thread hop."""
    started = time.perf_counter()
    base = base_url(cfg.endpoint)
    session = open_session(base, cfg.concurrency, cfg.timeout_s, cfg.api_key)
    check = asyncio.ensure_future(check_served(session, base, cfg.model)) if cfg.check_model else None
    plan: Plan | None = None
    try:
        # 1-2. the suite bound to its pack, what a previous run already answered
        plan = await plan_in_thread(cfg)
        if check is not None:
            if plan.jobs:
                await check
            else:  # nothing left to ask: the endpoint does not matter
                check.cancel()
                await asyncio.gather(check, return_exceptions=True)
        # 3-4. ask the rest, scoring and recording each answer as it arrives
        fresh = await ask_all(session, cfg, plan, on_record) if plan.jobs else []
    except BaseException:
        if check is not None:
            check.cancel()  # no-op once it is done
        await asyncio.gather(session.close(), *([check] if check else []), close_samples(plan),
                             return_exceptions=True)
        raise
    suite, docs = plan.suite, plan.docs
    if not plan.done and len(fresh) == len(docs) * suite.repeats:
        records = fresh  # asked in document order, none resumed: already in order
    else:
        by_key = {**plan.done, **{r.key: r for r in fresh}}
        records = [by_key[(doc.id, r)] for doc in docs for r in range(suite.repeats)]
    try:
        # 5. aggregate, then all the file work in one thread hop (~0.5 ms each way here) while the session closes
        summary = summarize(cfg, plan, records, started)
        document = lm_eval_document(suite, summary, cfg.concurrency, len(plan.prepared.docs), plan.commit)
    except BaseException:
        await asyncio.gather(session.close(), close_samples(plan), return_exceptions=True)
        raise
    if plan.appender is not None:
        plan.appender.hand_off()  # in the loop (it owns the timer); after the aggregates, not to wake its writer then
    files = asyncio.ensure_future(asyncio.to_thread(finish_files, cfg, plan, records, document))
    await asyncio.gather(session.close(), files)
    return EvalRun.model_construct(summary=summary, records=records, document=document)


async def plan_in_thread(cfg: EvalConfig) -> Plan:
    """`plan_run` in a thread. Cancelled meanwhile (a graph run stopped), the thread still finishes: the samples
    file it opens for the run that will not happen is then closed, not left open with its writer thread."""
    planning = asyncio.ensure_future(asyncio.to_thread(plan_run, cfg))
    try:
        return await asyncio.shield(planning)
    except asyncio.CancelledError:
        planning.add_done_callback(_close_abandoned_plan)
        raise


def _close_abandoned_plan(planning: asyncio.Future) -> None:
    if planning.cancelled() or planning.exception() is not None:
        return
    appender = planning.result().appender
    if appender is not None:
        asyncio.get_running_loop().run_in_executor(None, appender.close)


async def close_samples(plan: Plan | None) -> None:
    if plan is not None and plan.appender is not None:
        plan.appender.hand_off()
        await asyncio.to_thread(plan.appender.close)


def finish_files(cfg: EvalConfig, plan: Plan, records: list[SampleRecord], document: dict) -> None:
    """Blocking: the appender's last lines written, the samples file rewritten with exactly `records` in order, the
    results document written."""
    if plan.appender is not None:
        plan.appender.close()
    if plan.path is not None:
        compact(plan.path, records, plan.appender.lines if plan.appender else None)
    if cfg.out is not None:
        write_results(cfg.out, document, plan.suite.name)


def summarize(cfg: EvalConfig, plan: Plan, records: list[SampleRecord], started: float) -> EvalSummary:
    """Step 5's aggregates: the rates, the bootstrap interval, the hashes that make two results comparable."""
    suite, prepared = plan.suite, plan.prepared
    per_doc = stats.per_doc_means(records)
    summary = EvalSummary(
        suite=suite.name, model=cfg.model, endpoint=base_url(cfg.endpoint), n=len(records), n_docs=len(plan.docs),
        repeats=suite.repeats, **stats.rates(records), ci95=stats.bootstrap_ci95(per_doc),
        stderr=stats.stderr(per_doc), dataset_path=str(prepared.pack.path), dataset_sha256=prepared.pack.sha256, fewshot_sha256=prepared.fewshot.sha256 if prepared.fewshot else None,
        template_sha256=suite.template_sha256(), n_shot=suite.n_shot, generation=suite.generation,
        categories=stats.categories(records), extraction_methods=stats.methods(records), resumed=len(plan.done),
        wall_time_s=round(time.perf_counter() - started, 3), samples_path=str(plan.path) if plan.path else None)
    if cfg.out is not None:
        summary.results_path = str(cfg.out / f"results_{suite.name}.json")
    return summary

"""`modeldeploy bench`: load-test an OpenAI-compatible endpoint.

    modeldeploy bench --endpoint http://127.0.0.1:8000/v1 --model NAME --concurrency 1,4,16 --num-requests 200
    modeldeploy bench --endpoint URL --model NAME --rate 5 --burstiness 0.5 --max-concurrency 32 --duration 60
    modeldeploy bench --endpoint URL --model NAME --sweep --slo ttft=500,tpot=50 --json --out results/

With --json stdout is exactly one JSON document (schema in docs/benchmarking.md) with a `runs` list.
Mount with `app.command("bench")(bench_command)`.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from modeldeploy.errors import UserInputError


def parse_list(text: str, kind: type, option: str) -> list:
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserInputError(f"{option}: expected comma-separated numbers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise UserInputError(f"{option}: values must be positive, got {text!r}")
    return values


def parse_slo(text: str | None) -> dict:
    """`ttft=500,tpot=50,e2e=2000` (milliseconds) to SLO fields."""
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in ("ttft", "tpot", "e2e"):
            raise UserInputError(f"--slo: expected ttft=MS,tpot=MS,e2e=MS, got {part!r}")
        try:
            out[f"{key}_ms"] = float(value.rstrip("ms").strip())
        except ValueError:
            raise UserInputError(f"--slo: {key} must be milliseconds, got {value!r}") from None
        if out[f"{key}_ms"] <= 0:
            raise UserInputError(f"--slo: {key} must be positive")
    return out


def bench_command(
    endpoint: Annotated[str, typer.Option(help="Base URL of the server (http://host:port or .../v1).")],
    model: Annotated[str, typer.Option(help="Served model name (also where the tokenizer is looked for).")],
    concurrency: Annotated[str | None, typer.Option(help="Fixed users, comma-separated: one run each, e.g. 1,4,16.")] = None,
    rate: Annotated[str | None, typer.Option(help="Requests per second (Poisson/gamma arrivals), comma-separated.")] = None,
    burstiness: Annotated[float, typer.Option(min=0.01, help="Gamma shape of arrivals: 1 Poisson, <1 burstier.")] = 1.0,
    max_concurrency: Annotated[int | None, typer.Option(min=1, help="With --rate: at most this many in flight.")] = None,
    sweep: Annotated[bool, typer.Option("--sweep", help="Double the users from 1 until throughput stops growing.")] = False,
    slo_search: Annotated[bool, typer.Option("--slo-search", help="Find the most users meeting --slo.")] = False,
    num_requests: Annotated[int | None, typer.Option(min=1, help="Requests per run (default 100 unless --duration).")] = None,
    duration: Annotated[float | None, typer.Option(min=0.1, help="Seconds per run (stop sending after).")] = None,
    warmup: Annotated[int, typer.Option(min=0, help="Warm-up requests before each run, not recorded.")] = 0,
    input_len: Annotated[int, typer.Option(min=1, help="Prompt tokens (random workload).")] = 128,
    output_len: Annotated[int | None, typer.Option(min=1, help="Output tokens asked (default 128; datasets: theirs).")] = None,
    range_ratio: Annotated[float, typer.Option(min=0, max=0.99, help="Random lengths in len*(1±ratio).")] = 0.0,
    dataset: Annotated[Path | None, typer.Option(help="ShareGPT JSON or JSONL (prompt, output_len) file.")] = None,
    prefix_len: Annotated[int, typer.Option(min=0, help="Shared-prefix workload: tokens shared per group.")] = 0,
    num_prefixes: Annotated[int, typer.Option(min=1, help="Shared-prefix workload: number of groups.")] = 1,
    api: Annotated[str, typer.Option(help="chat or completions.")] = "chat",
    slo: Annotated[str | None, typer.Option(help="Limits for goodput and --slo-search: ttft=MS,tpot=MS,e2e=MS.")] = None,
    tokenizer: Annotated[str | None, typer.Option(help="Tokenizer dir/file/hub id (default: the model's, if found).")] = None,
    ignore_eos: Annotated[bool, typer.Option(help="Ask for exactly --output-len tokens (ignore_eos, min_tokens).")] = True,
    metrics: Annotated[bool, typer.Option(help="Scrape the server's Prometheus /metrics.")] = True,
    timeout: Annotated[float, typer.Option(min=1, help="Per-request timeout (s).")] = 600.0,
    seed: Annotated[int, typer.Option(help="Seed of prompts and arrivals.")] = 0,
    deployment: Annotated[str | None, typer.Option(help="Store the result under this deployment and compare with its previous run.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON document on stdout.")] = False,
    out: Annotated[Path | None, typer.Option(help="Write bench.json, requests.csv and report.html here.")] = None,
) -> None:
    """Load-test an OpenAI-compatible endpoint: TTFT, TPOT, ITL, E2E, throughput, goodput, validity."""
    from modeldeploy.tools.bench.schema import SLO, BenchConfig, Load, WorkloadSpec
    from modeldeploy.tools.bench.workloads import detect_kind

    if api not in ("chat", "completions"):
        raise UserInputError(f"--api must be chat or completions, got {api!r}")
    shapes = sum(bool(x) for x in (concurrency, rate, sweep, slo_search))
    if shapes > 1:
        raise UserInputError("choose one of --concurrency, --rate, --sweep, --slo-search")
    if max_concurrency and not rate:
        raise UserInputError("--max-concurrency caps a --rate")
    slo_fields = parse_slo(slo)
    if slo_search and not slo_fields:
        raise UserInputError("--slo-search needs --slo ttft=MS,tpot=MS,e2e=MS")
    if rate:
        loads = [Load(rate=r, burstiness=burstiness, max_concurrency=max_concurrency)
                 for r in parse_list(rate, float, "--rate")]
    elif concurrency:
        loads = [Load(concurrency=c) for c in parse_list(concurrency, int, "--concurrency")]
    else:
        loads = [Load(concurrency=1)]
    if dataset is not None:
        kind = detect_kind(str(dataset))
    else:
        kind = "prefix" if prefix_len else "random"
    try:
        workload = WorkloadSpec(kind=kind, input_len=input_len, output_len=output_len or 128, range_ratio=range_ratio,
                                dataset=str(dataset) if dataset else None, prefix_len=prefix_len,
                                num_prefixes=num_prefixes, seed=seed)
        cfg = BenchConfig(endpoint=endpoint, model=model, api=api, loads=loads, num_requests=num_requests,
                          duration_s=duration, warmup_requests=warmup, workload=workload, slo=SLO(**slo_fields),
                          ignore_eos=ignore_eos, tokenizer=tokenizer, timeout_s=timeout, scrape_metrics=metrics,
                          seed=seed)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserInputError(f"invalid {'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}") from None
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        doc, rows = runner.run(_run(cfg, sweep, slo_search, output_len if dataset else None, show=not as_json))
    if deployment:
        from modeldeploy.tools.bench.store import store_and_compare

        doc.deployment = deployment
        doc.comparison = store_and_compare(doc)
    if out is not None:
        from modeldeploy.tools.bench.results import write_results

        write_results(out, doc, rows)
    if as_json:
        sys.stdout.write(doc.model_dump_json(indent=2) + "\n")
    else:
        from modeldeploy.tools.bench.summary import print_summary

        print_summary(doc)


def loop_factory():
    """uvloop's event loop when uvloop is installed (~10% less client CPU per streamed request than asyncio's,
    bench/http_client_overhead.py), else None: asyncio's default loop."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _run(cfg, sweep: bool, slo_search: bool, fixed_output: int | None, show: bool):
    from modeldeploy.tools.bench import sweep as sweeps
    from modeldeploy.tools.bench.progress import LiveProgress
    from modeldeploy.tools.bench.runner import document, open_session

    progress = LiveProgress() if show and sys.stderr.isatty() else None
    session, client = await open_session(cfg, progress, fixed_output=fixed_output)
    session.own_process = True  # this process only benchmarks: full GCs may wait until a load point ends
    extra = {}
    async with client:
        if progress:
            progress.__enter__()
        try:
            if sweep:
                runs = await sweeps.auto_sweep(session.run)
            elif slo_search:
                runs, extra["slo_search"] = await sweeps.slo_search(session.run, lambda r: session.requests[r.label],
                                                                     cfg.slo)
            else:
                runs = [await session.run(load) for load in cfg.loads]
        finally:
            if progress:
                progress.__exit__(None, None, None)
    doc = document(cfg, session, runs, sweep=sweeps.saturation(runs) if len(runs) > 1 else None, **extra)
    return doc, session.requests

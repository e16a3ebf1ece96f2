"""The human-readable summary of a benchmark (a rich table), for the terminal."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from modeldeploy.tools.bench.schema import BenchDocument


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_summary(doc: BenchDocument, console: Console | None = None) -> None:
    console = console or Console(width=None if sys.stdout.isatty() else 200)
    table = Table(title=f"{doc.model} at {doc.endpoint} (ms; output tokens from "
                        f"{', '.join(sorted({r.output_tokens_source for r in doc.runs})) or '-'})")
    for name in ("run", "ok/failed", "req/s", "out tok/s", "TTFT p50/p99", "TPOT p50/p99", "ITL p50", "E2E p50/p99",
                 "goodput/s", "valid"):
        table.add_column(name)
    for r in doc.runs:
        table.add_row(r.label, f"{r.completed}/{r.failed}", _f(r.request_throughput, 2), _f(r.output_token_throughput),
                      f"{_f(r.ttft_ms.median)}/{_f(r.ttft_ms.p99)}", f"{_f(r.tpot_ms.median)}/{_f(r.tpot_ms.p99)}",
                      _f(r.itl_ms.median), f"{_f(r.e2e_ms.median)}/{_f(r.e2e_ms.p99)}",
                      _f(r.goodput.request_rate, 2) if r.goodput else "-",
                      "yes" if r.valid else "[red]no[/red]: " + "; ".join(r.validity.reasons))
    console.print(table)
    for r in doc.runs:
        if r.errors:
            console.print(f"{r.label}: errors {r.errors}")
        if r.server and r.server.error is None:
            s = r.server
            console.print(f"{r.label}: server queue {_f(s.queue_time_ms_mean)} ms, running p50 {_f(s.running.median)}, "
                          f"waiting max {_f(s.waiting.max)}, KV cache max {_f(s.kv_cache_usage_percent.max)}%")
    if doc.sweep and doc.sweep.saturation_concurrency:
        console.print(f"saturation at about {doc.sweep.saturation_concurrency} users "
                      f"({doc.sweep.max_request_throughput:.2f} req/s at most)")
    if doc.slo_search:
        best = doc.slo_search.best_load
        console.print(f"SLO search: {'highest load meeting the SLO: ' + best.label if best else 'no load met the SLO'}")
    for c in doc.comparison or []:
        if c["verdict"] != "same":
            console.print(f"vs previous: {c['run']} {c['metric']} {_f(c['before'])} -> {_f(c['now'])} "
                          f"({c['change_percent']:+.1f}%, {c['verdict']})")

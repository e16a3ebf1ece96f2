"""A self-contained HTML report (inline SVG, no scripts or external files): summary table, latency vs
throughput across the runs, TTFT and TPOT distributions, and a timeline of the last run.
"""

from __future__ import annotations

import html
from typing import Mapping, Sequence

from modeldeploy.tools.bench.analyze import RequestMetrics
from modeldeploy.tools.bench.schema import BenchDocument

W, H, PAD = 560, 300, 48
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def _scale(lo: float, hi: float, a: float, b: float):
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def _axes(title: str, xlabel: str, ylabel: str, xmax: float, ymax: float) -> list[str]:
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" class="chart">',
           f'<text x="{W / 2}" y="16" text-anchor="middle" font-weight="bold">{html.escape(title)}</text>',
           f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" stroke="#333"/>',
           f'<line x1="{PAD}" y1="{H - PAD}" x2="{PAD}" y2="24" stroke="#333"/>',
           f'<text x="{W / 2}" y="{H - 8}" text-anchor="middle">{html.escape(xlabel)}</text>',
           f'<text x="12" y="{H / 2}" transform="rotate(-90 12 {H / 2})" text-anchor="middle">{html.escape(ylabel)}</text>']
    for i in range(5):
        xv, yv = xmax * i / 4, ymax * i / 4
        x, y = PAD + (W - 10 - PAD) * i / 4, H - PAD - (H - PAD - 24) * i / 4
        out.append(f'<text x="{x}" y="{H - PAD + 14}" text-anchor="middle" font-size="10">{xv:.3g}</text>')
        out.append(f'<text x="{PAD - 4}" y="{y + 3}" text-anchor="end" font-size="10">{yv:.3g}</text>')
    return out


def line_chart(title: str, xlabel: str, ylabel: str, series: Sequence[tuple[str, Sequence[tuple[float, float]]]]) -> str:
    points = [p for _, s in series for p in s]
    if not points:
        return ""
    xmax = max(p[0] for p in points) or 1.0
    ymax = max(p[1] for p in points) or 1.0
    sx, sy = _scale(0, xmax, PAD, W - 10), _scale(0, ymax, H - PAD, 24)
    out = _axes(title, xlabel, ylabel, xmax, ymax)
    for i, (name, pts) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        out.extend(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>' for x, y in pts)
        out.append(f'<text x="{W - 14}" y="{30 + 14 * i}" text-anchor="end" fill="{color}">{html.escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def histogram(title: str, xlabel: str, values: Sequence[float], bins: int = 30) -> str:
    if not values:
        return ""
    lo, hi = min(values), max(values)
    width = (hi - lo) / bins or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(int((v - lo) / width), bins - 1)] += 1
    ymax = max(counts)
    out = _axes(title, xlabel, "requests", hi - lo or 1.0, ymax)
    sx, sy = _scale(0, bins, PAD, W - 10), _scale(0, ymax, H - PAD, 24)
    for i, c in enumerate(counts):
        out.append(f'<rect x="{sx(i):.1f}" y="{sy(c):.1f}" width="{max(sx(i + 1) - sx(i) - 1, 1):.1f}" '
                   f'height="{H - PAD - sy(c):.1f}" fill="{COLORS[0]}"/>')
    out.append(f'<text x="{W - 14}" y="30" text-anchor="end" font-size="10">offset {lo:.3g}</text></svg>')
    return "".join(out)


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.1f}"


def render_html(doc: BenchDocument, requests: Mapping[str, Sequence[RequestMetrics]]) -> str:
    rows = []
    for r in doc.runs:
        verdict = "valid" if r.valid else "CLIENT-BOUND: " + "; ".join(r.validity.reasons)
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
            r.label, r.completed, r.failed, f"{r.request_throughput:.2f}", f"{r.output_token_throughput:.1f}",
            _fmt(r.ttft_ms.mean), _fmt(r.ttft_ms.p99), _fmt(r.tpot_ms.mean), _fmt(r.tpot_ms.p99), _fmt(r.itl_ms.mean),
            _fmt(r.e2e_ms.mean), _fmt(r.e2e_ms.p99), f"{r.goodput.request_rate:.2f}" if r.goodput else "", verdict)) + "</tr>")
    head = ("run", "ok", "failed", "req/s", "out tok/s", "TTFT mean", "TTFT p99", "TPOT mean", "TPOT p99", "ITL mean",
            "E2E mean", "E2E p99", "goodput/s", "verdict")
    charts = []
    if len(doc.runs) > 1:
        xs = [(r.request_throughput, r) for r in doc.runs]
        charts.append(line_chart("Latency vs throughput", "requests/s", "ms", [
            ("TTFT p50", [(x, r.ttft_ms.median or 0) for x, r in xs]),
            ("TPOT p50", [(x, r.tpot_ms.median or 0) for x, r in xs]),
            ("E2E p50", [(x, r.e2e_ms.median or 0) for x, r in xs])]))
        loads = [(r.concurrency or r.rate or 0, r) for r in doc.runs]
        charts.append(line_chart("Throughput vs load", "concurrency or rate", "output tokens/s",
                                 [("output tok/s", [(x, r.output_token_throughput) for x, r in loads])]))
    for label, metrics in requests.items():
        done = [m for m in metrics if m.ok]
        charts.append(histogram(f"TTFT, {label}", "ms", [m.ttft_ms for m in done]))
        charts.append(histogram(f"TPOT, {label}", "ms", [m.tpot_ms for m in done if m.tpot_ms is not None]))
    if doc.runs:
        last = doc.runs[-1]
        series = [("completed/s", [(t["t_s"], t["completed"]) for t in last.timeline]),
                  ("in flight", [(t["t_s"], t["in_flight"]) for t in last.timeline])]
        if last.server and last.server.timeline:
            series.append(("server waiting", [(t["t_s"], t["waiting"] or 0) for t in last.server.timeline]))
        charts.append(line_chart(f"Timeline, {last.label}", "s", "count", series))
    comparison = ""
    if doc.comparison:
        comparison = "<h2>Against the previous run</h2><table><tr><th>run</th><th>metric</th><th>before</th>" \
                     "<th>now</th><th>change</th><th>verdict</th></tr>" + "".join(
            f"<tr><td>{html.escape(str(c['run']))}</td><td>{c['metric']}</td><td>{_fmt(c['before'])}</td>"
            f"<td>{_fmt(c['now'])}</td><td>{c['change_percent']:+.1f}%</td><td>{c['verdict']}</td></tr>"
            for c in doc.comparison) + "</table>"
    title = f"modeldeploy bench: {doc.model} at {doc.endpoint}"
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
            "padding:3px 6px;font-size:13px}svg.chart{margin:6px;border:1px solid #eee}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{doc.created_at.isoformat()} &middot; api {doc.api} &middot; "
            f"output tokens from {html.escape(', '.join(sorted({r.output_tokens_source for r in doc.runs})))} "
            f"&middot; latencies in ms</p><table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>{''.join(rows)}"
            f"</table>{comparison}<div>{''.join(charts)}</div></body></html>")

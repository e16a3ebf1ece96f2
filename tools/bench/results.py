"""Result files: `bench.json` (the BenchDocument), `requests.csv` (one row per request of every run)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Mapping, Sequence

from modeldeploy.tools.bench.analyze import RequestMetrics
from modeldeploy.tools.bench.schema import BenchDocument

CSV_COLUMNS = ("run", "index", "ok", "error", "message", "sent_s", "end_s", "dispatch_lag_ms", "ttft_ms", "tpot_ms",
               "e2e_ms", "itl_mean_ms", "chunks", "input_tokens", "output_tokens", "requested_output_tokens",
               "output_tokens_source")


def _r(value: float | None, digits: int = 3) -> float | str:
    return "" if value is None else round(value, digits)


def write_csv(path: Path, requests: Mapping[str, Sequence[RequestMetrics]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for label, rows in requests.items():
            for m in rows:
                itl = sum(m.itl_ms) / len(m.itl_ms) if m.itl_ms else None
                writer.writerow([label, m.index, int(m.ok), m.error or "", m.message[:200], _r(m.sent_s, 6),
                                 _r(m.end_s, 6), _r(m.dispatch_lag_ms), _r(m.ttft_ms), _r(m.tpot_ms), _r(m.e2e_ms),
                                 _r(itl), m.chunks, m.input_tokens, m.output_tokens, m.requested_output_tokens,
                                 m.source])


def write_results(out: Path, doc: BenchDocument, requests: Mapping[str, Sequence[RequestMetrics]]) -> dict[str, str]:
    """Write bench.json, requests.csv and report.html into `out`; the paths written."""
    from modeldeploy.tools.bench.html_report import render_html

    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "bench.json", "csv": out / "requests.csv", "html": out / "report.html"}
    paths["json"].write_text(doc.model_dump_json(indent=2) + "\n", encoding="utf-8")
    write_csv(paths["csv"], requests)
    paths["html"].write_text(render_html(doc, requests), encoding="utf-8")
    return {k: str(v) for k, v in paths.items()}

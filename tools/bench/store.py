"""Benchmark documents in the database by deployment, and the comparison with the previous one.

Comparison (the regression table): for each run label present in both documents, throughput (higher is
better) and TTFT/TPOT/ITL/E2E mean and p99 (lower is better); a change beyond 10% in the bad direction is
a `regression`, in the good one an `improvement`, else `same`. Runs flagged invalid say so in `note`.
"""

from __future__ import annotations

from sqlalchemy import select

from modeldeploy.tools.bench.schema import BenchDocument

THRESHOLD = 0.10
HIGHER_IS_BETTER = ("request_throughput", "output_token_throughput")
LOWER_IS_BETTER = (("ttft_ms", "mean"), ("ttft_ms", "p99"), ("tpot_ms", "mean"), ("tpot_ms", "p99"),
                   ("itl_ms", "mean"), ("e2e_ms", "mean"), ("e2e_ms", "p99"))


def _row(label: str, metric: str, before: float | None, now: float | None, higher_better: bool, note: str) -> dict | None:
    if before is None or now is None or before == 0:
        return None
    change = (now - before) / before
    worse = -change if higher_better else change
    verdict = "regression" if worse > THRESHOLD else "improvement" if worse < -THRESHOLD else "same"
    return {"run": label, "metric": metric, "before": before, "now": now, "change_percent": 100 * change,
            "verdict": verdict, "note": note}


def compare(previous: dict, current: BenchDocument) -> list[dict]:
    """The regression table of `current` against `previous` (a stored document)."""
    old = {r["label"]: r for r in previous.get("runs", [])}
    rows: list[dict] = []
    for run in current.runs:
        before = old.get(run.label)
        if before is None:
            continue
        note = "" if run.valid and before.get("valid", True) else "a run was client-bound: compare with care"
        now = run.model_dump()
        for key in HIGHER_IS_BETTER:
            rows.append(_row(run.label, key, before.get(key), now[key], True, note))
        for key, stat in LOWER_IS_BETTER:
            rows.append(_row(run.label, f"{key}.{stat}", (before.get(key) or {}).get(stat), now[key][stat], False, note))
    return [r for r in rows if r is not None]


def store_and_compare(doc: BenchDocument, database_url: str | None = None) -> list[dict]:
    """Compare with the previous document of `doc.deployment` (or endpoint), then store `doc`."""
    from modeldeploy.experience_store import BenchRun, open_database

    key = doc.deployment or doc.endpoint
    with open_database(database_url) as db, db.session() as session:
        previous = session.scalars(select(BenchRun).where(BenchRun.deployment == key)
                                   .order_by(BenchRun.created_at.desc(), BenchRun.id.desc()).limit(1)).first()
        table = compare(previous.document, doc) if previous is not None else []
        doc.comparison = table
        session.add(BenchRun(deployment=key, endpoint=doc.endpoint, model=doc.model, schema_version=doc.schema_version,
                             valid=int(all(r.valid for r in doc.runs)), document=doc.model_dump(mode="json"),
                             created_at=doc.created_at))
    return table


def history(deployment: str, database_url: str | None = None, limit: int = 20) -> list[dict]:
    """The stored documents of a deployment, newest first."""
    from modeldeploy.experience_store import BenchRun, open_database

    with open_database(database_url) as db, db.session() as session:
        rows = session.scalars(select(BenchRun).where(BenchRun.deployment == deployment)
                               .order_by(BenchRun.created_at.desc(), BenchRun.id.desc()).limit(limit)).all()
        return [r.document for r in rows]

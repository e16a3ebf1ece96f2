"""Evaluation summaries in the database by deployment, and the comparison with the previous run.

`store_eval` keys a summary by its deployment (or, without one, by the endpoint URL), stores it (table `eval_run`)
and compares it with the previous run of the same deployment and suite. Two scores are comparable only when both
the dataset (`dataset_sha256`) and the prompt template, shots, generation parameters and scoring rule
(`template_sha256`) are the same: otherwise the comparison says which one changed and gives no deltas. A
difference is `significant` when the two 95% intervals do not overlap (a conservative test: overlapping intervals
can still differ).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from modeldeploy.tools.eval.schema import EvalSummary

LIST_LIMIT = 20


def _row_dict(row) -> dict[str, Any]:
    return {"id": row.id, "created_at": row.created_at.isoformat(), "deployment": row.deployment,
            "endpoint": row.endpoint, "model": row.model, "suite": row.suite, "n": row.n,
            "score_official": row.score_official, "score_strict": row.score_strict,
            "unparsed_rate": row.unparsed_rate, "truncated_rate": row.truncated_rate,
            "ci95": [row.ci95_low, row.ci95_high], "dataset_sha256": row.dataset_sha256,
            "template_sha256": row.template_sha256, "results_path": row.results_path}


def compare(previous: dict[str, Any] | None, current: dict[str, Any]) -> dict[str, Any]:
    """How `current` (a row dict) compares with `previous` (the same deployment and suite's run before it)."""
    if previous is None:
        return {"previous": None, "comparable": None, "dataset_changed": None, "template_changed": None,
                "note": "first run of this deployment and suite: nothing to compare with"}
    dataset_changed = previous["dataset_sha256"] != current["dataset_sha256"]
    template_changed = previous["template_sha256"] != current["template_sha256"]
    comparable = not dataset_changed and not template_changed
    out: dict[str, Any] = {
        "previous": {k: previous[k] for k in ("id", "created_at", "model", "n", "score_official", "score_strict",
                                              "unparsed_rate", "ci95", "dataset_sha256", "template_sha256")},
        "comparable": comparable, "dataset_changed": dataset_changed, "template_changed": template_changed,
        "model_changed": previous["model"] != current["model"]}
    if comparable:
        for key in ("score_official", "score_strict", "unparsed_rate", "truncated_rate"):
            out[f"{key}_delta"] = round(current[key] - previous[key], 6)
        (lo0, hi0), (lo1, hi1) = previous["ci95"], current["ci95"]
        out["significant"] = hi1 < lo0 or lo1 > hi0
        delta = out["score_official_delta"]
        out["note"] = (f"official score {previous['score_official']:.4f} -> {current['score_official']:.4f} "
                       f"({delta:+.4f}); " + ("the 95% intervals do not overlap" if out["significant"]
                                              else "within the 95% intervals"))
    else:
        changed = [what for what, flag in (("dataset", dataset_changed), ("prompt template", template_changed)) if flag]
        out["note"] = (f"not comparable with #{previous['id']}: the {' and the '.join(changed)} changed "
                       "(a score is only comparable when the dataset and template hashes both match)")
    if out["model_changed"]:
        out["note"] += f"; the served model changed ({previous['model']} -> {current['model']})"
    return out


def _previous(session, deployment: str, suite: str, before_id: int | None = None):
    from modeldeploy.experience_store.eval_runs import EvalRun as Row

    query = select(Row).where(Row.deployment == deployment, Row.suite == suite)
    if before_id is not None:
        query = query.where(Row.id < before_id)
    return session.scalars(query.order_by(Row.created_at.desc(), Row.id.desc()).limit(1)).first()


def store_eval(summary: EvalSummary | dict[str, Any], deployment: str | None,
               database_url: str | None = None) -> dict[str, Any]:
    """Store `summary` under `deployment` (None: its endpoint); the comparison with the previous run, plus `id`."""
    from modeldeploy.experience_store import open_database
    from modeldeploy.experience_store.eval_runs import EvalRun as Row

    s = summary if isinstance(summary, EvalSummary) else EvalSummary.model_validate(summary)
    key = deployment or s.endpoint
    with open_database(database_url) as db, db.session() as session:
        before = _previous(session, key, s.suite)
        row = Row(deployment=key, endpoint=s.endpoint, model=s.model, suite=s.suite, n=s.n,
                  score_official=s.score_official, score_strict=s.score_strict, unparsed_rate=s.unparsed_rate,
                  truncated_rate=s.truncated_rate, ci95_low=s.ci95[0], ci95_high=s.ci95[1],
                  dataset_sha256=s.dataset_sha256, template_sha256=s.template_sha256,
                  summary=s.model_dump(mode="json"), results_path=s.results_path)
        session.add(row)
        session.flush()
        current = _row_dict(row)
        comparison = compare(_row_dict(before) if before is not None else None, current)
    return {"id": current["id"], "deployment": key, "suite": s.suite, **comparison}


def list_evals(deployment: str | None = None, suite: str | None = None, limit: int = LIST_LIMIT,
               database_url: str | None = None) -> list[dict[str, Any]]:
    """Stored runs, newest first (without the summary document), filtered by deployment and/or suite."""
    from modeldeploy.experience_store import open_database
    from modeldeploy.experience_store.eval_runs import EvalRun as Row

    query = select(Row)
    if deployment is not None:
        query = query.where(Row.deployment == deployment)
    if suite is not None:
        query = query.where(Row.suite == suite)
    with open_database(database_url) as db, db.session() as session:
        rows = session.scalars(query.order_by(Row.created_at.desc(), Row.id.desc()).limit(limit)).all()
        return [_row_dict(r) for r in rows]


def get_eval(eval_id: int, database_url: str | None = None) -> dict[str, Any] | None:
    """One stored run with its whole summary and its comparison with the run before it; None when unknown."""
    from modeldeploy.experience_store import open_database
    from modeldeploy.experience_store.eval_runs import EvalRun as Row

    with open_database(database_url) as db, db.session() as session:
        row = session.get(Row, eval_id)
        if row is None:
            return None
        current = _row_dict(row)
        before = _previous(session, row.deployment, row.suite, before_id=row.id)
        comparison = compare(_row_dict(before) if before is not None else None, current)
        return {**current, "summary": row.summary, "comparison": comparison}

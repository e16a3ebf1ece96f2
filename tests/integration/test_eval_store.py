"""Evaluation summaries stored by deployment (SQLite and PostgreSQL, migrated to head) and their comparison."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from modeldeploy.tools.eval.schema import EvalSummary, Generation
from modeldeploy.tools.eval.store import get_eval, list_evals, store_eval

DATA_A, DATA_B = "a" * 64, "b" * 64
TEMPLATE = "t" * 64


def summary(score: float, *, suite: str = "gsm8k", dataset: str = DATA_A, template: str = TEMPLATE,
            ci95: tuple[float, float] | None = None, model: str = "m", endpoint: str = "http://h:8000/v1") -> EvalSummary:
    low, high = ci95 or (score - 0.05, score + 0.05)
    return EvalSummary(suite=suite, model=model, endpoint=endpoint, n=200, n_docs=200, repeats=1,
                       score_official=score, score_strict=score - 0.1, unparsed_rate=0.02, truncated_rate=0.01,
                       error_rate=0.0, ci95=[low, high], stderr=0.03, dataset_path="/p/test.jsonl",
                       dataset_sha256=dataset, template_sha256=template, n_shot=0, generation=Generation(),
                       categories={"x": {"n": 200, "score_official": score}}, wall_time_s=1.5,
                       results_path="/out/results_gsm8k.json")


def test_the_second_run_of_a_deployment_and_suite_is_compared_with_the_first(db_url):
    first = store_eval(summary(0.70), "dep-a", db_url)
    assert first["previous"] is None and first["comparable"] is None and "first run" in first["note"]
    store_eval(summary(0.10, suite="aime2025"), "dep-a", db_url)  # another suite: not the previous run of gsm8k
    store_eval(summary(0.20), "dep-b", db_url)  # another deployment: not either
    second = store_eval(summary(0.85, ci95=(0.81, 0.89)), "dep-a", db_url)
    assert second["previous"]["id"] == first["id"] and second["id"] > first["id"]
    assert second["comparable"] is True and not second["dataset_changed"] and not second["template_changed"]
    assert second["score_official_delta"] == pytest.approx(0.15)
    assert second["score_strict_delta"] == pytest.approx(0.15)
    assert second["unparsed_rate_delta"] == 0
    assert second["significant"] is True  # 0.81-0.89 does not overlap 0.65-0.75
    third = store_eval(summary(0.86), "dep-a", db_url)
    assert third["previous"]["id"] == second["id"] and third["significant"] is False
    assert third["score_official_delta"] == pytest.approx(0.01)

    from modeldeploy.experience_store import open_database

    with open_database(db_url) as db:
        assert "eval_run" in inspect(db.engine).get_table_names()


@pytest.mark.parametrize(("changed", "what"), [({"dataset": DATA_B}, "dataset"), ({"template": "u" * 64}, "template")])
def test_a_changed_dataset_or_template_is_not_comparable(db_url, changed, what):
    store_eval(summary(0.70), "dep-a", db_url)
    c = store_eval(summary(0.90, **changed), "dep-a", db_url)
    assert c["comparable"] is False
    assert c["dataset_changed"] is (what == "dataset") and c["template_changed"] is (what == "template")
    assert "score_official_delta" not in c and "significant" not in c  # no delta that invites a comparison
    assert "not comparable" in c["note"] and what in c["note"]
    assert c["previous"]["score_official"] == pytest.approx(0.70)  # both scores are still shown


def test_list_filters_newest_first_and_an_endpoint_stands_in_for_a_missing_deployment(db_url):
    ids = [store_eval(summary(0.5 + i / 10, suite=s), d, db_url)["id"]
           for i, (d, s) in enumerate([("dep-a", "gsm8k"), ("dep-a", "mmlu_pro"), ("dep-b", "gsm8k"),
                                       ("dep-a", "gsm8k")])]
    bare = store_eval(summary(0.3, endpoint="http://bare:9/v1"), None, db_url)
    assert bare["deployment"] == "http://bare:9/v1"
    assert [r["id"] for r in list_evals(database_url=db_url)] == [bare["id"], *reversed(ids)]
    assert [r["id"] for r in list_evals(deployment="dep-a", database_url=db_url)] == [ids[3], ids[1], ids[0]]
    assert [r["id"] for r in list_evals(suite="gsm8k", deployment="dep-a", database_url=db_url)] == [ids[3], ids[0]]
    assert [r["id"] for r in list_evals(suite="gsm8k", limit=2, database_url=db_url)] == [bare["id"], ids[3]]
    assert list_evals(deployment="http://bare:9/v1", database_url=db_url)[0]["score_official"] == pytest.approx(0.3)
    assert list_evals(deployment="nope", database_url=db_url) == []
    row = list_evals(deployment="dep-b", database_url=db_url)[0]
    assert row["ci95"] == pytest.approx([0.65, 0.75]) and row["dataset_sha256"] == DATA_A and "summary" not in row


def test_get_returns_the_whole_summary_and_the_comparison_with_the_run_before(db_url):
    first = store_eval(summary(0.70), "dep-a", db_url)
    second = store_eval(summary(0.60), "dep-a", db_url)
    store_eval(summary(0.99), "dep-a", db_url)  # a later run does not change what #second compares with
    got = get_eval(second["id"], db_url)
    assert got["summary"] == summary(0.60).model_dump(mode="json")
    assert got["results_path"] == "/out/results_gsm8k.json" and got["created_at"].endswith("+00:00")
    assert got["comparison"]["previous"]["id"] == first["id"]
    assert got["comparison"]["score_official_delta"] == pytest.approx(-0.10)
    assert get_eval(first["id"], db_url)["comparison"]["previous"] is None
    assert get_eval(10_000, db_url) is None

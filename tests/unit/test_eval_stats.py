"""Aggregates: the bootstrap interval is seeded, brackets the mean, and resamples questions (not repeats)."""

from __future__ import annotations

import numpy as np
import pytest

from modeldeploy.tools.eval import stats
from modeldeploy.tools.eval.schema import SampleRecord


def rec(doc: str, correct: bool, repeat: int = 0, **kw) -> SampleRecord:
    return SampleRecord(doc_id=doc, repeat=repeat, prompt_hash="h", target="A", correct=correct, **kw)


def test_bootstrap_is_repeatable_and_brackets_the_mean():
    values = np.array([1.0] * 30 + [0.0] * 70)
    low, high = stats.bootstrap_ci95(values)
    assert stats.bootstrap_ci95(values) == [low, high]
    assert low < 0.3 < high and 0.05 < high - low < 0.3  # ~±0.09 for n=100, p=0.3


def test_constant_scores_have_a_zero_width_interval_and_empty_is_zero():
    assert stats.bootstrap_ci95(np.ones(12)) == [1.0, 1.0]
    assert stats.bootstrap_ci95(np.array([])) == [0.0, 0.0]


def test_repeats_of_one_question_are_one_unit():
    records = [rec("a", True, 0), rec("a", False, 1), rec("b", True, 0), rec("b", True, 1)]
    assert list(stats.per_doc_means(records)) == [0.5, 1.0]


def test_categories_and_methods_count_what_happened():
    records = [rec("a", True, category="law", method="answer_is"), rec("b", False, category="law", unparsed=True),
               rec("c", False, category="math", error="HTTP 500")]
    assert stats.categories(records)["law"] == {"n": 2, "score_official": 0.5, "score_strict": 0.0,
                                                "unparsed_rate": 0.5}
    assert stats.methods(records) == {"answer_is": 1, "error": 1, "unparsed": 1}
    assert stats.rates(records)["error_rate"] == pytest.approx(1 / 3)

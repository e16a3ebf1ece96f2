"""Answer extraction as the benchmarks' reference code does it, quirks included, and reasoning stripping."""

from __future__ import annotations

import random

import pytest

from modeldeploy.tools.eval.extract import as_integer, gsm8k_flexible, gsm8k_strict, last_boxed, mmlu_pro_letter
from modeldeploy.tools.eval.mmlu_pro import official_guess
from modeldeploy.tools.eval.reasoning import split_reasoning


@pytest.mark.parametrize(("text", "letter", "method"), [
    pytest.param("Step by step... The answer is (B).", "B", "answer_is", id="answer-is-parens"),
    pytest.param("the answer is C", "C", "answer_is", id="answer-is-bare"),
    pytest.param("So the answer is **(D)**", "D", "last_letter", id="bold-markers-fall-to-last-letter"),
    pytest.param("**Answer: E**", "E", "answer_colon", id="bold-answer-colon"),
    pytest.param("Answer: F\nlater the answer is (A)", "A", "answer_is", id="answer-is-wins-over-colon"),
    pytest.param("answer: G then Answer: H", "H", "answer_colon", id="colon-greedy-takes-last-on-line"),
    pytest.param("Maybe A or C; B fits best", "B", "last_letter", id="several-letters-last-wins"),
    pytest.param("I cannot tell", "I", "last_letter", id="pronoun-I-is-a-letter-officially"),
    pytest.param("the answer is (c)", None, None, id="lowercase-is-unparsed"),
    pytest.param("no idea at all", None, None, id="no-letter"),
    pytest.param("The answer is (K)", None, None, id="beyond-J-unparsed"),
])
def test_mmlu_pro_three_step_extraction(text, letter, method):
    assert mmlu_pro_letter(text) == (letter, method)


@pytest.mark.parametrize("n", range(1, 11))
def test_official_guess_matches_reseeding_the_global_random_before_every_guess(n):
    random.seed(12345)
    assert official_guess(n) == random.randint(0, n - 1)


def test_last_boxed_takes_the_last_balanced_box():
    assert last_boxed(r"first \boxed{1} then \boxed{\frac{1}{2}}") == r"\frac{1}{2}"
    assert last_boxed(r"so \boxed{070}.") == "070"
    assert last_boxed(r"\boxed 42$") == "42"
    assert last_boxed("no box") is None
    assert last_boxed(r"\boxed{unclosed") is None


@pytest.mark.parametrize(("text", "value"), [("070", 70), (r"\text{70}", 70), ("1{,}000", 1000), ("$33$", 33),
                                             ("70.0", 70), ("7.5", None), ("x", None), (None, None)])
def test_as_integer(text, value):
    assert as_integer(text) == value


def test_gsm8k_filters():
    assert gsm8k_strict("work\n#### 1,234") == "1,234"
    assert gsm8k_strict("The answer is 5") is None
    assert gsm8k_flexible("3 apples and $1,200. Then 7") == "7"
    assert gsm8k_flexible("words only") is None


@pytest.mark.parametrize(("content", "answer", "reasoning"), [
    pytest.param("<think>answer is (A)</think>The answer is (C)", "The answer is (C)", "answer is (A)", id="inline"),
    pytest.param("hidden A</think> The answer is (B)", "The answer is (B)", "hidden A", id="open-tag-in-prompt"),
    pytest.param("Sure. <think>still thinking about (D", "Sure.", "still thinking about (D", id="never-closed"),
    pytest.param("plain", "plain", "", id="no-tags"),
    pytest.param(None, "", "", id="null-content"),
])
def test_split_reasoning(content, answer, reasoning):
    assert split_reasoning(content) == (answer, reasoning)

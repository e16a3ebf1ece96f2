"""Suites bound to generated packs: MMLU-Pro's official prompt, AIME/GSM8K scoring, custom YAML suites, packs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_packs import aime_pack, gsm8k_pack, mmlu_pro_pack, write_jsonl

from modeldeploy.errors import UserInputError
from modeldeploy.tools.eval.packs import hf_cache_dir, load_pack, resolve_split, sha256_file
from modeldeploy.tools.eval.registry import load_suite
from modeldeploy.tools.eval.suite import messages_hash

HEADER = ('The following are multiple choice questions (with answers) about law. Think step by step and then '
          'finish your answer with "the answer is (X)" where X is the correct letter choice.\n')


def test_mmlu_pro_prompt_is_the_official_five_shot_cot_from_same_category_validation(tmp_path):
    test = mmlu_pro_pack(tmp_path, [("law", 4, 2), ("math", 10, 0)])
    suite = load_suite("mmlu-pro")
    prepared = suite.prepare(test, None)
    doc = prepared.docs[0]
    [message] = suite.messages(doc, prepared)
    text = message["content"]
    assert message["role"] == "user" and text.startswith(HEADER + "Question:\n")
    assert text.count("Question:\n") == 6  # five shots + the question
    assert "Shot 4 of law" in text and "Shot 5 of law" not in text and "of math" not in text
    assert text.count("Answer: Let's think step by step. Shot") == 5  # "A: Let's..." rewritten as the official code does
    assert text.endswith("Options:\nA. law value 100-0\nB. law value 100-1\nC. law value 100-2\nD. law value 100-3\n"
                         "Answer: Let's think step by step.")
    assert "N/A" not in text
    assert doc.target == "C" and doc.category == "law"
    assert suite.generation.temperature == 0 and suite.generation.stop == ["Question:"]
    assert prepared.fewshot is not None and prepared.fewshot.sha256 == sha256_file(tmp_path / "validation.jsonl")


def test_mmlu_pro_n_shot_zero_needs_no_validation_and_changes_the_template_hash(tmp_path):
    test = mmlu_pro_pack(tmp_path, [("math", 10, 0)])
    (tmp_path / "validation.jsonl").unlink()
    five = load_suite("mmlu_pro")
    with pytest.raises(UserInputError, match="validation split"):
        five.prepare(test, None)
    zero = load_suite("mmlu_pro")
    zero.n_shot = 0
    prepared = zero.prepare(test, None)
    assert zero.messages(prepared.docs[0], prepared)[0]["content"].count("Question:") == 1
    assert zero.template_sha256() != five.template_sha256()


def test_mmlu_pro_rejects_rows_outside_the_official_schema(tmp_path):
    path = write_jsonl(tmp_path / "test.jsonl", [{"question_id": 1, "question": "q", "options": ["a"]}])
    with pytest.raises(UserInputError, match="lacks answer, answer_index, category"):
        load_suite("mmlu_pro").prepare(path, None)


def test_mmlu_pro_official_score_guesses_for_unparsed_and_strict_does_not(tmp_path):
    test = mmlu_pro_pack(tmp_path, [("math", 4, 3), ("math", 4, 0)])
    suite = load_suite("mmlu_pro")
    hit, miss = suite.prepare(test, None).docs
    assert suite.score(hit, "no idea").model_dump() == {"extracted": None, "correct": True, "correct_strict": False,
                                                        "unparsed": True, "method": None}
    assert suite.score(miss, "no idea").correct is False
    assert suite.score(miss, "The answer is (A)").correct_strict is True


def test_aime_scores_the_last_box_as_an_integer(tmp_path):
    path, answers = aime_pack(tmp_path / "aime.jsonl", n=3)
    suite = load_suite("aime25")
    docs = suite.prepare(path, None).docs
    assert [d.target for d in docs] == [str(a) for a in answers] and docs[0].id == "1"
    assert suite.score(docs[0], rf"\boxed{{1}} no wait \boxed{{{answers[0]:03d}}}").correct is True
    unboxed = suite.score(docs[0], f"the answer is {answers[0]}")
    assert unboxed.unparsed and not unboxed.correct
    assert suite.generation.temperature == 0.6 and "\\boxed{}" in suite.messages(docs[0], None)[0]["content"]


def test_gsm8k_flexible_is_official_and_strict_needs_the_final_answer_phrase(tmp_path):
    path, answers = gsm8k_pack(tmp_path / "test.jsonl", n=2)
    suite = load_suite("gsm8k")
    doc = suite.prepare(path, None).docs[1]
    assert doc.target == str(answers[1])
    both = suite.score(doc, f"so {answers[1] - 5} + 5. The final answer is {answers[1]:,}")
    assert both.correct and both.correct_strict
    loose = suite.score(doc, f"It is {answers[1]}.")
    assert loose.correct and not loose.correct_strict


def _suite_file(tmp_path: Path, scoring: dict, rows: list[dict], prompt: str = "Q: {q}") -> Path:
    write_jsonl(tmp_path / "rows.jsonl", rows)
    spec = {"name": "mine", "data": "rows.jsonl", "prompt": prompt, "target": "t", "scoring": scoring}
    path = tmp_path / "mine.yaml"
    path.write_text(json.dumps(spec))  # JSON is YAML
    return path


@pytest.mark.parametrize(("scoring", "target", "answer", "official", "strict", "unparsed"), [
    pytest.param({"type": "exact_match"}, "Paris", " Paris. ", True, False, False, id="exact-normalised"),
    pytest.param({"type": "exact_match", "ignore_case": True}, "Paris", "paris", True, False, False, id="exact-nocase"),
    pytest.param({"type": "exact_match"}, "Paris", "", False, False, True, id="exact-empty-unparsed"),
    pytest.param({"type": "regex", "pattern": r"ANSWER:\s*(\w+)"}, "Paris", "so ANSWER: Paris", True, False, False,
                 id="regex"),
    pytest.param({"type": "regex", "pattern": r"ANSWER:\s*(\w+)"}, "Paris", "Paris", False, True, True,
                 id="regex-unmatched"),
    pytest.param({"type": "numeric", "abs_tol": 0.01}, "3.14", "pi is about 3.141", True, False, False, id="numeric-tol"),
    pytest.param({"type": "numeric"}, "1000", "1,000", True, True, False, id="numeric-commas"),
    pytest.param({"type": "numeric", "rel_tol": 0.1}, "100", "it is 111", False, False, False, id="numeric-outside"),
    pytest.param({"type": "multiple_choice"}, 1, "The answer is (B)", True, False, False, id="mc-index-target"),
])
def test_custom_suite_scoring(tmp_path, scoring, target, answer, official, strict, unparsed):
    suite = load_suite(str(_suite_file(tmp_path, scoring, [{"q": "x", "t": target, "options": ["a", "b"]}])))
    doc = suite.prepare(None, None).docs[0]
    score = suite.score(doc, answer)
    assert (score.correct, score.correct_strict, score.unparsed) == (official, strict, unparsed)


def test_custom_multiple_choice_renders_lettered_options(tmp_path):
    suite = load_suite(str(_suite_file(tmp_path, {"type": "multiple_choice"}, [{"q": "x", "t": "A", "options": ["a", "b"]}],
                                       prompt="{q}\n{options}")))
    prepared = suite.prepare(None, None)
    assert suite.messages(prepared.docs[0], prepared) == [{"role": "user", "content": "x\nA. a\nB. b"}]


@pytest.mark.parametrize(("spec", "message"), [
    pytest.param({"name": "x", "prompt": "{q}", "target": "t", "scoring": {"type": "regex"}}, "needs a pattern",
                 id="regex-without-pattern"),
    pytest.param({"name": "x", "prompt": "{q}", "target": "t", "scoring": {"type": "fuzzy"}}, "scoring.type",
                 id="unknown-type"),
    pytest.param({"name": "x", "prompt": "{q}", "target": "t", "surprise": 1}, "surprise", id="unknown-key"),
    pytest.param({"name": "x", "prompt": "{q}", "target": "t", "scoring": {"pattern": "("}}, "bad pattern",
                 id="broken-regex"),
])
def test_bad_custom_suites_are_one_line_errors(tmp_path, spec, message):
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(spec))
    with pytest.raises(UserInputError, match=message):
        load_suite(str(path))


def test_custom_prompt_field_missing_from_a_row_is_named(tmp_path):
    suite = load_suite(str(_suite_file(tmp_path, {}, [{"t": "1"}], prompt="Q: {question}")))
    with pytest.raises(UserInputError, match="row 1: the prompt uses 'question'"):
        suite.prepare(None, None)


def test_the_shipped_addition_suite_has_100_distinct_sums():
    suite = load_suite("addition")
    prepared = suite.prepare(None, None)
    docs = prepared.docs
    assert len(docs) == 100 and len({(d.row["a"], d.row["b"]) for d in docs}) == 100
    assert all(int(d.target) == d.row["a"] + d.row["b"] for d in docs)
    assert suite.messages(docs[0], prepared)[0]["content"] == f"What is {docs[0].row['a']} plus {docs[0].row['b']}?"
    assert suite.score(docs[0], docs[0].target).correct_strict


def test_parquet_and_jsonl_packs_give_the_same_rows_and_their_own_sha256(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    rows = [{"question": "q1", "answer": "x\n#### 3"}, {"question": "q2", "answer": "y\n#### 4"}]
    jsonl = write_jsonl(tmp_path / "a" / "test.jsonl", rows)
    (tmp_path / "b" / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "b" / "data" / "test-00000-of-00001.parquet")
    parquet = resolve_split(tmp_path / "b", "test", None)
    assert parquet.name == "test-00000-of-00001.parquet"
    assert load_pack(parquet).rows == load_pack(jsonl).rows
    assert load_pack(parquet).sha256 == sha256_file(parquet) != load_pack(jsonl).sha256


def test_packs_come_from_the_hf_cache_only_when_present(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert hf_cache_dir("openai/gsm8k") is None
    with pytest.raises(UserInputError, match="nothing is downloaded"):
        load_suite("gsm8k").prepare(None, None)
    snapshot = tmp_path / "hub" / "datasets--openai--gsm8k" / "snapshots" / "abc"
    path, _ = gsm8k_pack(snapshot / "main" / "test-00000-of-00001.jsonl", n=3)
    prepared = load_suite("gsm8k").prepare(None, None)
    assert prepared.pack.path == path and len(prepared.docs) == 3


@pytest.mark.parametrize(("content", "message"), [("{not json", "not JSON"), ('["a"]\n', "JSON object per line")])
def test_broken_jsonl_is_a_one_line_error_with_the_line_number(tmp_path, content, message):
    path = tmp_path / "test.jsonl"
    path.write_text('{"question": "q", "answer": "#### 1"}\n' + content)
    with pytest.raises(UserInputError, match=f"test.jsonl:2: .*{message}"):
        load_pack(path)


def test_prompt_hash_is_stable_and_content_sensitive():
    a = [{"role": "user", "content": "x"}]
    assert messages_hash(a) == messages_hash([dict(a[0])]) != messages_hash([{"role": "user", "content": "y"}])

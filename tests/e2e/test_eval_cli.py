"""`modeldeploy eval` as a user runs it, against a loopback server whose answers are known.

The Must-show: on MMLU-Pro answers in tricky formats (bold markers, `Answer: X`, several letters, no letter,
lowercase, an out-of-range letter, reasoning that names another letter, a truncated answer, the pronoun "I"),
the scores equal what the official three-step extraction and the official tally (random.seed(12345), then
randint, for every unparsed answer) compute. The expected letters below are worked out by hand from the
official regexes, not by our code.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import subprocess
import sys

import pytest
from eval_packs import mmlu_pro_pack, write_jsonl
from eval_server import AnswerServer, Fail, Reply

CLI = [sys.executable, "-m", "modeldeploy.cli.main", "eval"]
LETTERS = "ABCDEFGHIJ"

# (category, options, answer index, the server's reply, the letter the official extraction finds)
CASES = [
    ("math", 10, 1, Reply("Step 1: compare. The answer is (B)."), "B"),
    ("math", 10, 2, Reply("So the answer is **(C)**"), "C"),
    ("math", 10, 3, Reply("**Answer: D**"), "D"),
    ("law", 4, 0, Reply("Options A or C look close; I pick B"), "B"),
    ("law", 4, 3, Reply("no idea at all"), None),
    ("law", 4, 1, Reply("the answer is (b)"), None),
    ("law", 10, 6, Reply("i do not know"), None),
    ("biology", 4, 2, Reply("The answer is (J)"), "J"),
    ("biology", 10, 4, Reply("Answer: E\nOn reflection the answer is (A)"), "A"),
    ("biology", 10, 0, Reply("The answer is (A)", reasoning="maybe the answer is (B)"), "A"),
    ("biology", 10, 5, Reply("<think>The answer is (A)</think>The answer is (F)"), "F"),
    ("math", 10, 7, Reply("Let me compute the value carefully", finish_reason="length"), None),
    ("math", 3, 0, Reply("I believe it is A"), "A"),
    ("law", 10, 9, Reply("I am unsure"), "I"),
]


def official_tally(cases) -> tuple[float, float, float]:
    """The official save_res loop, restated: (official accuracy, strict accuracy, unparsed rate)."""
    corr = strict = unparsed = 0
    for _cat, n_options, answer_index, _reply, pred in cases:
        if not pred:
            unparsed += 1
            random.seed(12345)
            corr += random.randint(0, n_options - 1) == answer_index
        else:
            corr += pred == LETTERS[answer_index]
            strict += pred == LETTERS[answer_index]
    return corr / len(cases), strict / len(cases), unparsed / len(cases)


def question_id(prompt: str) -> int:
    return int(re.search(r"question (\d+): which value", prompt.rsplit("Question:\n", 1)[1]).group(1))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def test_mmlu_pro_scores_equal_the_official_extraction_and_tally(tmp_path):
    test = mmlu_pro_pack(tmp_path / "pack", [(c, n, i) for c, n, i, _, _ in CASES])
    replies = {100 + k: case[3] for k, case in enumerate(CASES)}
    official, strict, unparsed = official_tally(CASES)
    assert (official, strict, unparsed) == (8 / 14, 6 / 14, 4 / 14)  # the guess hits 2 of the 4 unparsed
    with AnswerServer(lambda ask: replies[question_id(ask.prompt)]) as server:
        p = run("--endpoint", server.url, "--model", server.model, "--suite", "mmlu_pro", "--data", str(test),
                "--concurrency", "4", "--json", "--out", str(tmp_path / "out"))
        bodies = list(server.bodies)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["suite"] == "mmlu_pro" and doc["n"] == 14
    assert doc["score_official"] == pytest.approx(official)
    assert doc["score_strict"] == pytest.approx(strict)
    assert doc["unparsed_rate"] == pytest.approx(unparsed)
    assert doc["truncated_rate"] == pytest.approx(1 / 14)
    assert doc["ci95"][0] <= official <= doc["ci95"][1] and doc["ci95"][0] < doc["ci95"][1]
    assert doc["dataset_sha256"] == hashlib.sha256(test.read_bytes()).hexdigest()
    assert len(doc["template_sha256"]) == 64 and doc["n_shot"] == 5
    assert doc["categories"]["law"]["n"] == 5
    # what was sent: the official generation settings, one request per question
    assert len(bodies) == 14
    assert all(b["temperature"] == 0 and b["stop"] == ["Question:"] for b in bodies)
    # per-sample records: the extraction the official code makes, question by question
    samples = [json.loads(line) for line in (tmp_path / "out" / "samples_mmlu_pro.jsonl").read_text().splitlines()]
    assert [s["extracted"] for s in samples] == [case[4] for case in CASES]
    assert samples[9]["reasoning"] == "maybe the answer is (B)" and samples[10]["reasoning"] == "The answer is (A)"
    assert [s["truncated"] for s in samples].count(True) == 1 and samples[11]["finish_reason"] == "length"
    assert all(len(s["prompt_hash"]) == 64 and s["resps"] and "filtered_resps" in s for s in samples)
    # the lm-evaluation-harness layout
    result = json.loads((tmp_path / "out" / "results_mmlu_pro.json").read_text())
    for key in ("results", "configs", "versions", "n-shot", "n-samples", "config", "higher_is_better", "date"):
        assert key in result, key
    assert result["results"]["mmlu_pro"]["exact_match,official"] == pytest.approx(official)
    assert result["results"]["mmlu_pro"]["exact_match,strict"] == pytest.approx(strict)
    assert result["n-shot"] == {"mmlu_pro": 5} and result["n-samples"]["mmlu_pro"] == {"original": 14, "effective": 14}
    assert result["configs"]["mmlu_pro"]["dataset_sha256"] == doc["dataset_sha256"]


def test_addition_suite_human_output_and_failed_requests_exit_1_then_resume(tmp_path):
    rows = [{"id": f"q{i}", "a": i, "b": 2 * i, "answer": str(3 * i)} for i in range(6)]
    write_jsonl(tmp_path / "add.jsonl", rows)

    def oracle(ask):
        a, b = map(int, re.findall(r"\d+", ask.prompt))
        return Fail(400, "prompt too long") if a == 5 and broken else str(a + b)

    broken = True
    out = tmp_path / "out"
    with AnswerServer(oracle) as server:
        first = run("--endpoint", server.url, "--model", server.model, "--suite", "addition", "--data",
                    str(tmp_path / "add.jsonl"), "--out", str(out))
        broken = False
        second = run("--endpoint", server.url, "--model", server.model, "--suite", "addition", "--data",
                     str(tmp_path / "add.jsonl"), "--out", str(out), "--json")
        asked_5 = server.times_asked("What is 5 plus 10?")
        total = len(server.bodies)
    assert first.returncode == 1
    assert first.stderr.strip().splitlines()[-1].startswith("error: 1 of 6 requests failed")
    assert "HTTP 400" in first.stderr and "Traceback" not in first.stderr
    assert "official 0.8333" in first.stdout
    assert second.returncode == 0, second.stderr
    doc = json.loads(second.stdout)
    assert doc["score_official"] == 1.0 and doc["resumed"] == 5 and doc["error_rate"] == 0
    assert asked_5 == 2 and total == 7  # the rerun asked only the failed question


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["--suite", "nope"], "unknown suite 'nope'", id="unknown-suite"),
    pytest.param(["--suite", "mmlu_pro", "--data", "/nonexistent/test.jsonl"], "dataset file not found", id="no-data"),
    pytest.param(["--suite", "addition", "--endpoint", "ftp://x"], "--endpoint must be an http(s) URL", id="bad-url"),
    pytest.param(["--suite", "addition", "--model", "other"], "model 'other' is not served", id="model-not-served"),
    pytest.param(["--suite", "addition", "--concurrency", "0"], "--concurrency", id="concurrency-zero"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    with AnswerServer(lambda ask: "0") as server:
        base = {"--endpoint": server.url, "--model": server.model}
        for i in range(0, len(args), 2):
            base[args[i]] = args[i + 1]
        p = run(*[x for kv in base.items() for x in kv])
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], p.stderr


def test_deployment_stores_each_run_and_compares_list_and_show_read_them(tmp_path):
    """`eval --deployment` stores the run (in MODELDEPLOY_HOME's database) and compares it with the previous one."""
    rows = [{"id": f"q{i}", "a": i, "b": 1, "answer": str(i + 1)} for i in range(4)]
    write_jsonl(tmp_path / "add.jsonl", rows)
    wrong = {"What is 3 plus 1?"}  # first run: one of four wrong; second run: all right

    def oracle(ask):
        a, b = map(int, re.findall(r"\d+", ask.prompt))
        return "0" if ask.prompt in wrong else str(a + b)

    with AnswerServer(oracle) as server:
        common = ["--endpoint", server.url, "--model", server.model, "--suite", "addition", "--data",
                  str(tmp_path / "add.jsonl"), "--deployment", "dep-a"]
        first = run(*common, "--json")
        wrong.clear()
        second = run(*common)  # human output
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    c1 = json.loads(first.stdout)["comparison"]
    assert c1["previous"] is None and c1["deployment"] == "dep-a" and c1["suite"] == "addition"
    assert "official 0.7500 -> 1.0000 (+0.2500)" in second.stdout, second.stdout
    second_id = int(re.search(r"stored as eval #(\d+) under dep-a", second.stdout).group(1))
    listed = run("list", "--deployment", "dep-a", "--json")
    assert listed.returncode == 0, listed.stderr
    docs = json.loads(listed.stdout)
    assert [(d["id"], d["score_official"], d["suite"]) for d in docs] == [(second_id, 1.0, "addition"),
                                                                          (c1["id"], 0.75, "addition")]
    table = run("list", "--suite", "addition")
    assert table.returncode == 0 and "dep-a" in table.stdout and "0.7500" in table.stdout, table.stdout
    shown = run("show", str(c1["id"]), "--json")
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["summary"]["n"] == 4 and doc["summary"]["score_official"] == 0.75 and doc["deployment"] == "dep-a"
    assert doc["dataset_sha256"] == hashlib.sha256((tmp_path / "add.jsonl").read_bytes()).hexdigest()
    human = run("show", str(second_id))
    assert human.returncode == 0 and f"eval #{second_id}" in human.stdout and "(+0.2500)" in human.stdout, human.stdout
    missing = run("show", "999")
    assert missing.returncode == 2 and missing.stderr.strip().splitlines() == [
        "error: no stored evaluation with id 999 (see modeldeploy eval list)"]

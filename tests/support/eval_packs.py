"""Small generated packs in each benchmark's official schema (no benchmark question is copied).

MMLU-Pro: question_id, question, options (N/A-padded to 10 as in the dataset), answer, answer_index,
cot_content, category, src; test and validation splits. AIME 2025 (MathArena): problem_idx, problem, answer.
GSM8K: question, answer ending in "#### N".
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

LETTERS = "ABCDEFGHIJ"
CATEGORIES = ("math", "law", "biology")


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def mmlu_pro_row(qid: int, category: str, n_options: int, answer_index: int, cot: str = "") -> dict[str, Any]:
    options = [f"{category} value {qid}-{i}" for i in range(n_options)] + ["N/A"] * (10 - n_options)
    return {"question_id": qid, "question": f"Synthetic {category} question {qid}: which value is marked?",
            "options": options, "answer": LETTERS[answer_index], "answer_index": answer_index,
            "cot_content": cot, "category": category, "src": f"synthetic-{category}"}


def mmlu_pro_validation(shots_per_category: int = 6) -> list[dict[str, Any]]:
    rows, qid = [], 9000
    for category in CATEGORIES:
        for k in range(shots_per_category):
            idx = k % 10
            rows.append(mmlu_pro_row(qid, category, 10, idx,
                                     cot=f"A: Let's think step by step. Shot {k} of {category}. The answer is ({LETTERS[idx]})."))
            qid += 1
    return rows


def mmlu_pro_pack(directory: Path, specs: list[tuple[str, int, int]]) -> Path:
    """test.jsonl (one row per (category, n_options, answer_index)) and validation.jsonl in `directory`."""
    rows = [mmlu_pro_row(100 + i, cat, n, idx) for i, (cat, n, idx) in enumerate(specs)]
    write_jsonl(directory / "validation.jsonl", mmlu_pro_validation())
    return write_jsonl(directory / "test.jsonl", rows)


def aime_pack(path: Path, n: int = 6, seed: int = 0) -> tuple[Path, list[int]]:
    rng = random.Random(seed)
    answers = [rng.randrange(0, 1000) for _ in range(n)]
    rows = [{"problem_idx": i + 1, "problem": f"Synthetic problem {i + 1}: compute the marked integer {a}.",
             "answer": str(a)} for i, a in enumerate(answers)]
    return write_jsonl(path, rows), answers


def gsm8k_pack(path: Path, n: int = 5) -> tuple[Path, list[int]]:
    answers = [1000 + 37 * i for i in range(n)]
    rows = [{"question": f"Synthetic word problem {i}: a farmer has {a - 5} eggs and buys 5 more. How many?",
             "answer": f"{a - 5} + 5 = {a}.\n#### {a:,}"} for i, a in enumerate(answers)]
    return write_jsonl(path, rows), answers

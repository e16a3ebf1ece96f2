"""MMLU-Pro as TIGER-Lab runs it: 5-shot CoT from same-category validation examples, the three-step extraction,
and the official tally (an unparsed answer scores a seeded random guess).

Pack schema (the `TIGER-Lab/MMLU-Pro` columns): question_id, question, options, answer, answer_index,
cot_content, category, src. The validation split (the shots) is `--fewshot FILE`, or the `validation` file beside
the test file, or the Hugging Face cache. "N/A" options are dropped as the official preprocessing does.
The official run cuts shots when a prompt exceeds its 4,096-token window; we always send k shots (the tokenizer
is the server's), which only matters for models with a context under ~4k tokens.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from modeldeploy.errors import UserInputError
from modeldeploy.tools.eval.extract import mmlu_pro_letter
from modeldeploy.tools.eval.packs import load_pack, resolve_split, sibling_split
from modeldeploy.tools.eval.schema import Generation, Score
from modeldeploy.tools.eval.suite import Doc, Prepared, Suite, require_fields

FIELDS = ("question_id", "question", "options", "answer", "answer_index", "category")
CHOICES = "ABCDEFGHIJKLMNOP"
HEADER = ('The following are multiple choice questions (with answers) about {$}. Think step by step and then finish '
          'your answer with "the answer is (X)" where X is the correct letter choice.')
COT_PREFIX = ("A: Let's think step by step.", "Answer: Let's think step by step.")
QUESTION_END = "Answer: Let's think step by step."
GUESS_SEED = 12345


def preprocess(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "options": [o for o in row["options"] if o != "N/A"]}


def format_example(row: dict[str, Any], with_answer: bool) -> str:
    text = f"Question:\n{row['question']}\nOptions:\n"
    text += "".join(f"{CHOICES[i]}. {opt}\n" for i, opt in enumerate(row["options"]))
    if with_answer:
        return text + str(row.get("cot_content") or "").replace(*COT_PREFIX) + "\n\n"
    return text + QUESTION_END


def official_guess(n_options: int) -> int:
    """The official tally's guess for an unparsed answer: random.seed(12345) then randint(0, n - 1), every time."""
    return random.Random(GUESS_SEED).randint(0, n_options - 1)


class MMLUPro(Suite):
    name = "mmlu_pro"
    version = "1"
    n_shot = 5
    hf_repo = "TIGER-Lab/MMLU-Pro"

    def default_generation(self) -> Generation:
        return Generation(temperature=0.0, max_tokens=2048, stop=["Question:"])

    def prepare(self, data: Path | None, fewshot: Path | None) -> Prepared:
        test_path = resolve_split(data, "test", self.hf_repo)
        pack = load_pack(test_path)
        require_fields(pack.rows, FIELDS, pack.path, "MMLU-Pro")
        shots_pack = None
        shots: dict[str, list[dict[str, Any]]] = defaultdict(list)
        if self.n_shot > 0:
            shots_path = fewshot or sibling_split(test_path, "validation")
            if shots_path is None and data is None:
                shots_path = resolve_split(None, "validation", self.hf_repo)
            if shots_path is None:
                raise UserInputError(f"MMLU-Pro's {self.n_shot}-shot prompt needs the validation split: pass "
                                     "--fewshot FILE (or put validation.jsonl beside the test file), or --n-shot 0")
            shots_pack = load_pack(shots_path)
            require_fields(shots_pack.rows, (*FIELDS, "cot_content"), shots_pack.path, "MMLU-Pro validation")
            for row in shots_pack.rows:
                shots[row["category"]].append(preprocess(row))
        docs = []
        for row in pack.rows:
            row = preprocess(row)
            if not row["options"] or len(row["options"]) > 10:
                raise UserInputError(f"{pack.path}: question {row['question_id']} has {len(row['options'])} options "
                                     "(MMLU-Pro has 1 to 10)")
            docs.append(Doc(id=str(row["question_id"]), target=str(row["answer"]), row=row, category=row["category"]))
        return Prepared(docs=docs, pack=pack, fewshot=shots_pack, extra={"shots": shots})

    def prompt(self, doc: Doc, prepared: Prepared) -> str:
        subject = doc.row["category"]
        text = HEADER.replace("{$}", subject) + "\n"
        for example in prepared.extra["shots"].get(subject, [])[: self.n_shot]:
            text += format_example(example, with_answer=True)
        return text + format_example(doc.row, with_answer=False)

    def messages(self, doc: Doc, prepared: Prepared) -> list[dict[str, str]]:
        return [{"role": "user", "content": self.prompt(doc, prepared)}]

    def score(self, doc: Doc, answer: str) -> Score:
        letter, method = mmlu_pro_letter(answer)
        strict = letter is not None and letter == doc.target
        if letter:
            official = strict
        else:
            official = official_guess(len(doc.row["options"])) == doc.row["answer_index"]
        return Score(extracted=letter, correct=official, correct_strict=strict, unparsed=letter is None, method=method)

    def template_text(self) -> str:
        return "\n".join([HEADER, "Question:\n{question}\nOptions:\n{letter}. {option}\n", "|".join(COT_PREFIX),
                          QUESTION_END, "extract: answer is \\(?([A-J])\\)? | .*[aA]nswer:\\s*([A-J]) | "
                          "\\b[A-J]\\b(?!.*\\b[A-J]\\b)", f"guess: Random({GUESS_SEED}).randint(0, n-1)"])

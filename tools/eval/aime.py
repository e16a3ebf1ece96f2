"""AIME 2025: 30 problems with integer answers 0-999, the last `\\boxed{}` compared as an integer, avg@n.

Pack schema: `problem` (MathArena/aime_2025, yentinglin/aime_2025) or `question` (opencompass/AIME2025), and
`answer`; the id is `id`, `problem_idx` or `ID` when present, else the row number. Sampling follows the common
practice for reasoning models (temperature 0.6, top_p 0.95) with a per-repeat seed, so a run is repeatable on
servers that honour `seed`; `--repeats N` gives avg@N and the interval resamples problems, not samples.
"""

from __future__ import annotations

from pathlib import Path

from modeldeploy.errors import UserInputError
from modeldeploy.tools.eval.extract import as_integer, last_boxed
from modeldeploy.tools.eval.packs import load_pack, resolve_split
from modeldeploy.tools.eval.schema import Generation, Score
from modeldeploy.tools.eval.suite import Doc, Prepared, Suite, first_field

INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
QUESTION_FIELDS = ("problem", "question", "Problem")
ID_FIELDS = ("id", "problem_idx", "ID", "idx")


class AIME2025(Suite):
    name = "aime2025"
    version = "1"
    hf_repo = "MathArena/aime_2025"
    split = "train"

    def default_generation(self) -> Generation:
        return Generation(temperature=0.6, top_p=0.95, max_tokens=32768)

    def prepare(self, data: Path | None, fewshot: Path | None) -> Prepared:
        pack = load_pack(resolve_split(data, self.split, self.hf_repo))
        docs = []
        for number, row in enumerate(pack.rows, 1):
            question = first_field(row, QUESTION_FIELDS)
            answer = as_integer(str(first_field(row, ("answer", "Answer"))))
            if question is None or answer is None:
                raise UserInputError(f"{pack.path}: row {number} needs `problem` (or `question`) and an integer "
                                     "`answer` (the AIME 2025 schema)")
            ident = first_field(row, ID_FIELDS)
            docs.append(Doc(id=str(ident if ident is not None else number), target=str(answer), row=row))
        return Prepared(docs=docs, pack=pack)

    def messages(self, doc: Doc, prepared: Prepared) -> list[dict[str, str]]:
        return [{"role": "user", "content": f"{first_field(doc.row, QUESTION_FIELDS)}\n{INSTRUCTION}"}]

    def score(self, doc: Doc, answer: str) -> Score:
        boxed = last_boxed(answer)
        value = as_integer(boxed)
        correct = value is not None and value == int(doc.target)
        return Score(extracted=None if value is None else str(value), correct=correct, correct_strict=correct,
                     unparsed=value is None, method="boxed" if value is not None else None)

    def template_text(self) -> str:
        return "{problem}\n" + INSTRUCTION + "\nscore: int(last \\boxed{}) == int(answer)"

"""GSM8K as lm-evaluation-harness's `gsm8k_cot_llama` asks a chat model, with its two filters.

Pack schema (`openai/gsm8k`, config `main`): `question`, `answer` (the worked solution ending in `#### N`).
Zero-shot. Official score: flexible-extract (the last number in the response); strict: the number after
"The final answer is". Numbers compare as decimals ('1,000', '$5', '5.00' all equal their value).
"""

from __future__ import annotations

import re
from pathlib import Path

from modeldeploy.tools.eval.extract import gsm8k_flexible, parse_number
from modeldeploy.tools.eval.packs import load_pack, resolve_split
from modeldeploy.tools.eval.schema import Generation, Score
from modeldeploy.tools.eval.suite import Doc, Prepared, Suite, first_field, require_fields

PROMPT = ("Given the following problem, reason and give a final answer to the problem.\nProblem: {question}\n"
          'Your response should end with "The final answer is [answer]" where [answer] is the response to the '
          "problem.")
STRICT = re.compile(r"The final answer is ((-?[$0-9.,]{2,})|(-?[0-9]+))")


def target_of(answer: str) -> str:
    return answer.split("####")[-1].strip().replace(",", "")


class GSM8K(Suite):
    name = "gsm8k"
    version = "1"
    hf_repo = "openai/gsm8k"
    metric_official = "flexible-extract"
    metric_strict = "strict-match"

    def default_generation(self) -> Generation:
        return Generation(temperature=0.0, max_tokens=1024)

    def prepare(self, data: Path | None, fewshot: Path | None) -> Prepared:
        pack = load_pack(resolve_split(data, "test", self.hf_repo))
        require_fields(pack.rows, ("question", "answer"), pack.path, "GSM8K")
        docs = [Doc(id=str(first_field(row, ("id", "idx")) or i), target=target_of(str(row["answer"])), row=row)
                for i, row in enumerate(pack.rows)]
        return Prepared(docs=docs, pack=pack)

    def messages(self, doc: Doc, prepared: Prepared) -> list[dict[str, str]]:
        return [{"role": "user", "content": PROMPT.format(question=doc.row["question"])}]

    def score(self, doc: Doc, answer: str) -> Score:
        expected = parse_number(doc.target)
        flexible = gsm8k_flexible(answer)
        m = STRICT.search(answer)
        strict_value = m.group(1) if m else None
        official = flexible is not None and parse_number(flexible) == expected
        strict = strict_value is not None and parse_number(strict_value) == expected
        return Score(extracted=flexible, correct=official, correct_strict=strict, unparsed=flexible is None,
                     method="strict-match" if strict_value else ("flexible-extract" if flexible else None))

    def template_text(self) -> str:
        return PROMPT + "\nstrict: " + STRICT.pattern + "\nflexible: (-?[$0-9.,]{2,})|(-?[0-9]+) last"

r"""Answer extraction, each rule as its benchmark's reference code applies it.

MMLU-Pro (TIGER-Lab `evaluate_from_local.py`): three regexes tried in order, case-sensitive: `answer is \(?([A-J])\)?`,
then `.*[aA]nswer:\s*([A-J])`, then the last standalone capital A-J (`\b[A-J]\b(?!.*\b[A-J]\b)`, DOTALL). Their
quirks are kept on purpose (lowercase letters never match; an "I" in prose is a standalone capital): the score
must equal the official one. GSM8K (lm-evaluation-harness): strict `#### N` and flexible last number.
AIME: the last `\boxed{...}` as an integer.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

MMLU_PRO_ANSWER_IS = re.compile(r"answer is \(?([A-J])\)?")
MMLU_PRO_ANSWER_COLON = re.compile(r".*[aA]nswer:\s*([A-J])")
MMLU_PRO_LAST_LETTER = re.compile(r"\b[A-J]\b(?!.*\b[A-J]\b)", re.DOTALL)

GSM8K_STRICT = re.compile(r"#### (\-?[0-9\.\,]+)")
GSM8K_FLEXIBLE = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def mmlu_pro_letter(text: str) -> tuple[str | None, str | None]:
    """(letter, which step matched) by the official three-step extraction; (None, None) when unparsed."""
    m = MMLU_PRO_ANSWER_IS.search(text)
    if m:
        return m.group(1), "answer_is"
    m = MMLU_PRO_ANSWER_COLON.search(text)
    if m:
        return m.group(1), "answer_colon"
    m = MMLU_PRO_LAST_LETTER.search(text)
    if m:
        return m.group(0), "last_letter"
    return None, None


def last_boxed(text: str) -> str | None:
    r"""Content of the last `\boxed{...}` (balanced braces) or `\boxed N`; None when there is none."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    rest = text[start:].removeprefix("\\boxed").removeprefix("\\fbox")
    if rest.startswith(" "):
        token = rest.split(None, 1)[0] if rest.strip() else ""
        return token.split("$")[0] or None
    if not rest.startswith("{"):
        return None
    depth = 0
    for j, ch in enumerate(rest):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return rest[1:j].strip()
    return None


def as_integer(text: str | None) -> int | None:
    """An answer like '033', '$70$', '1{,}000', '\\text{70}' or '70.0' as an int; None if it is not one."""
    if text is None:
        return None
    s = re.sub(r"\\text\{([^}]*)\}|\\mathrm\{([^}]*)\}", lambda m: m.group(1) or m.group(2) or "", text)
    s = s.replace("{,}", "").replace(",", "").replace("$", "").replace("\\!", "").replace("^\\circ", "").strip()
    try:
        value = Decimal(s)
    except InvalidOperation:
        return None
    return int(value) if value == value.to_integral_value() else None


def parse_number(text: str | None) -> Decimal | None:
    """'1,234', '$5', '-3.50', '7.' as a Decimal; None when it is not a number."""
    if text is None:
        return None
    s = text.replace(",", "").replace("$", "").strip().rstrip(".")
    try:
        return Decimal(s)
    except InvalidOperation:
        return None


def gsm8k_strict(text: str) -> str | None:
    m = GSM8K_STRICT.search(text)
    return m.group(1) if m else None


def gsm8k_flexible(text: str) -> str | None:
    """lm-eval's flexible-extract: the last match of the number regex (group_select -1)."""
    matches = GSM8K_FLEXIBLE.findall(text)
    if not matches:
        return None
    last = matches[-1]
    return (last[0] or last[1]) or None


def last_number(text: str) -> str | None:
    found = NUMBER.findall(text)
    return found[-1] if found else None

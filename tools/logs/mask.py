"""Masking: the variable parts of a log line become typed placeholders, giving its template.

Order matters (a timestamp is made of numbers, a path may hold a UUID):
``<UUID>``, ``<URL>``, ``<TS>`` (ISO, syslog, vLLM ``11-25 12:00:00``, clock times),
``<IP>`` (IPv4 with optional ``:port``), ``<PATH>`` (absolute or ``./``/``../``/``~/``
paths), ``<SIZE>`` (``12.5 GiB``, ``448.00 MiB``, ``4096 bytes``), ``<HEX>`` (``0x1f``,
runs of 8+ hex digits with at least one letter), ``<ID>`` (16+ alphanumerics with
letters and at least 3 digits: request ids, not ``Qwen2ForCausalLM``), then every
other number becomes ``<NUM>`` (``pid=<NUM>``, ``cuda:<NUM>``, ``<NUM>/<NUM>``); digits glued
to a word stay (``bfloat16``, ``T4``, ``TP0``, ``v0.11``, ``8B``), for readability.

The digest treats every digit, and every run of 8+ hex characters, as variable:
two lines that differ only there share a group (whose template is the first
line's; see `digest`).
"""

from __future__ import annotations

import re

_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<UUID>"),
    (re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>)\]}]+"), "<URL>"),
    (re.compile(r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d)?(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\b"
                r"|\b\d\d-\d\d \d\d:\d\d:\d\d(?:[.,]\d+)?"
                r"|\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} \d\d:\d\d:\d\d"
                r"|\b\d{4}-\d\d-\d\d\b|\b\d\d:\d\d:\d\d(?:[.,]\d+)?\b"), "<TS>"),
    (re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b"), "<IP>"),
    (re.compile(r"(?<![\w./~-])(?:~|\.{1,2})?(?:/[\w.@+%=-]+)+/?"), "<PATH>"),
    (re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?(?:[KMGTPE]i?B|[kKMGT]B|bytes)\b"), "<SIZE>"),
    (re.compile(r"\b0[xX][0-9a-fA-F]+\b|\b(?=\d*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<HEX>"),
    (re.compile(r"\b(?=(?:[A-Za-z]*\d){3})(?=\d*[A-Za-z])[A-Za-z0-9]{16,}\b"), "<ID>"),
    (re.compile(r"(?<![A-Za-z0-9.])\d+(?:\.\d+)*"), "<NUM>"),
]
_NEEDS = ("-", "://", "", ".", "/", "", "", "", "")  # a cheap substring test that must pass before each rule


def mask_line(text: str) -> str:
    """The template of one (clean) line: variable parts replaced by placeholders."""
    for (pattern, placeholder), needle in zip(_RULES, _NEEDS):
        if needle in text:
            text = pattern.sub(placeholder, text)
    return text

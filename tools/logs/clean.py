"""Noise removal: carriage-return overwrites, ANSI escapes, progress bars and spinners.

Lines are split on ``\\n`` only, so a ``\\r`` inside a line is seen: it is a
progress bar overwriting itself, and the line becomes its last visible segment
(`resolve_carriage_returns`; `resolve_chunk` does it for a block of lines with
C-level searches). ANSI escapes (colours, cursor moves, OSC titles) are removed
from the lines the digest keeps (`strip_ansi_bytes`); `clean_line` does both for
one line of text. `progress_label` recognises tqdm-style bars (``45%|███ |``,
``50% Completed | 1/2 [00:01<00:01, ...]``, ``12.3MB/s]``) so that all updates of
one bar fall in one group; `strip_spinner` drops a leading spinner glyph.
"""

from __future__ import annotations

import re

_ANSI_B = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\n]*(?:\x07|\x1b\\)|[@-Z\\-_])")

_PROGRESS = re.compile(
    r"\d{1,3}(?:\.\d+)?%\s*(?:\||Completed\b)"          # tqdm "45%|" and vLLM "45% Completed |"
    r"|\|[\u2588-\u258f#= ]{3,}\|"                     # a bar between pipes
    r"|\d(?:it|B|[kMG]i?B)/s\]"                         # "12.4it/s]", "210MB/s]"
    r"|\d+it \[\d")                                   # tqdm without a total: "45it [00:01"
_PROGRESS_LABEL_END = re.compile(r"\s*:?\s*(?:\d{1,3}(?:\.\d+)?%|\d+it \[|\|[\u2588-\u258f#= ]{3,}\|)")
_SPINNER = re.compile(r"^\s*[\u2800-\u28ff\u25d0-\u25d3\u25f0-\u25f7\u25dc-\u25e5]+\s*")


def resolve_carriage_returns(line: bytes) -> bytes:
    """What a terminal finally showed of one line: its last non-blank ``\\r`` segment."""
    if b"\r" not in line:
        return line
    for segment in reversed(line.split(b"\r")):
        if segment.strip():
            return segment
    return b""


def resolve_chunk(chunk: bytes) -> bytes:
    """A block of whole lines with CRLF turned to LF and every other ``\\r`` line resolved.

    C-level searches find the lines holding a ``\\r``; only those cost Python work."""
    if b"\r" not in chunk:
        return chunk
    eol = chunk.find(b"\n")
    if eol > 0 and chunk[eol - 1] == 13:        # CRLF line endings (judged on the first line)
        chunk = chunk.replace(b"\r\n", b"\n")
        if b"\r" not in chunk:
            return chunk
    out, pos = [], 0
    i = chunk.find(b"\r")
    while i >= 0:
        start = chunk.rfind(b"\n", 0, i) + 1
        end = chunk.find(b"\n", i)
        if end < 0:
            end = len(chunk)
        out.append(chunk[pos:start])
        out.append(resolve_carriage_returns(chunk[start:end]))
        pos = end
        i = chunk.find(b"\r", end)
    out.append(chunk[pos:])
    return b"".join(out)


def strip_ansi_bytes(data: bytes) -> bytes:
    """No ANSI escape sequences (never across a line break)."""
    return _ANSI_B.sub(b"", data) if b"\x1b" in data else data


def clean_bytes(raw: bytes) -> bytes:
    """One raw line (with or without its ``\\n``) as it was finally visible: CR-resolved, no ANSI."""
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    return strip_ansi_bytes(resolve_chunk(raw))


def clean_line(line: str) -> str:
    """`clean_bytes` for text."""
    return clean_bytes(line.encode("utf-8", "surrogateescape")).decode("utf-8", "replace")


def progress_label(text: str) -> str | None:
    """The label of a progress-bar line (the text before the percentage/bar), or None if it is not one."""
    if not _PROGRESS.search(text):
        return None
    m = _PROGRESS_LABEL_END.search(text)
    label = text[: m.start()] if m else text
    return label.rstrip(" :|") or "progress"


def strip_spinner(text: str) -> str:
    """The line without a leading spinner glyph (braille dots, quarter circles)."""
    return _SPINNER.sub("", text, count=1) if text and (text[0] > "\u2500" or text[:1].isspace()) else text

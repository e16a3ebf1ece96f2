"""Joining Python tracebacks into one event.

A traceback runs from ``Traceback (most recent call last):`` through its frames
(``  File "...", line N, in f`` and the code lines under them) to the exception
line (``ValueError: ...``) and the exception's own continuation lines (pydantic's
indented details, NCCL's multi-line message). Chained exceptions (``During
handling of the above exception...`` / ``The above exception was the direct cause...``)
stay in the same event, the last one being the one that ended the program.

Servers prefix every line of a traceback with the same log prefix (vLLM:
``(EngineCore_DP0 pid=42) ERROR 11-25 12:00:00 [core.py:708] ``); the text before
``Traceback`` is that prefix, and a line belongs to the traceback only if it
starts with the same prefix (compared masked, so a clock tick does not break
it). Lines of other processes may interleave; they do not end it. SGLang
writes the header after a prefix and the frames without one: the prefix then
becomes empty at the first ``File`` line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from modeldeploy.tools.logs.classify import ERROR, WARNING, line_level
from modeldeploy.tools.logs.mask import mask_line

HEADER = "Traceback (most recent call last):"
HEADER_B = b"Traceback (most recent call last):"
MAX_EXCEPTION_LINES = 8
MAX_IDLE_LINES = 64
_NO_DIGITS = str.maketrans("", "", "0123456789")
_CHAIN = ("During handling of the above exception", "The above exception was the direct cause")
_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+), in (.+)$')
_RECORD_START = re.compile(
    r"^\s*(?:\[?\d{4}-\d\d-\d\d|\d\d-\d\d \d\d:\d\d|\[?(?:INFO|WARNING|WARN|ERROR|DEBUG|CRITICAL|FATAL)\b"
    r"|[IWEF]\d{4} \d\d:|\(\w+ pid=\d+\)|Process \w+:$)")


@dataclass
class TracebackEvent:
    """A finished traceback. `exceptions` holds each exception's lines as (line number, verbatim text),
    in chain order: the last one ended the program. `location` is the innermost frame of the last traceback."""
    start: int
    end: int
    prefix: str
    level: str
    frames: int
    location: str | None
    exceptions: list[list[tuple[int, str]]]

    def bodies(self, index: int = -1) -> list[str]:
        """The exception's lines without the log prefix (also when only its digits changed: a clock tick)."""
        p, shape = len(self.prefix), self.prefix.translate(_NO_DIGITS)
        return [text[p:] if p and text[:p].translate(_NO_DIGITS) == shape else text
                for _, text in self.exceptions[index]]


@dataclass
class OpenTraceback:
    """A traceback being read: `feed` it the lines `body_of` accepts, then `finish` it."""
    start: int
    prefix: str
    level: str
    prefix_key: str = ""
    prefix_shape: str = ""
    frames: int = 0
    location: str | None = None
    phase: str = "frames"          # frames | exception | blank | chain
    exception: list[tuple[int, str]] = field(default_factory=list)
    chain: list[list[tuple[int, str]]] = field(default_factory=list)
    idle: int = 0
    end: int = 0

    @classmethod
    def begin(cls, n: int, text: str, index: int) -> "OpenTraceback":
        prefix = text[:index]
        level = WARNING if line_level(prefix) == WARNING else ERROR
        return cls(start=n, end=n, prefix=prefix, level=level, prefix_key=mask_line(prefix),
                   prefix_shape=prefix.translate(_NO_DIGITS))

    def body_of(self, text: str) -> str | None:
        """The line without this traceback's prefix, or None if the line belongs to someone else."""
        p = self.prefix
        if text.startswith(p):
            return text[len(p):]
        if p and len(text) >= len(p) and text[: len(p)].translate(_NO_DIGITS) == self.prefix_shape \
                and mask_line(text[: len(p)]) == self.prefix_key:
            return text[len(p):]
        if p and self.frames == 0 and self.phase == "frames" and _FRAME.match(text):
            self.prefix, self.prefix_key, self.prefix_shape = "", "", ""   # SGLang: prefixed header, bare frames
            return text
        return None

    def restart(self, n: int) -> None:
        """A chained exception's own traceback begins."""
        self.phase, self.end = "frames", n

    def feed(self, n: int, text: str, body: str) -> bool:
        """Offer a line (and its body); False means the traceback ended before it (the line is not part of it)."""
        stripped = body.strip()
        phase = self.phase
        if phase == "frames":
            if body[:1] in (" ", "\t") or not stripped:
                m = _FRAME.match(body)
                if m:
                    self.frames += 1
                    self.location = f"{m.group(1).rsplit('/', 1)[-1]}:{m.group(2)} in {m.group(3)}"
                self.end = n
                return True
            self.exception = [(n, text)]
            self.phase = "exception"
            self.end = n
            return True
        if stripped.startswith(_CHAIN):
            if self.exception:
                self.chain.append(self.exception)
                self.exception = []
            self.phase, self.end = "chain", n
            return True
        if phase == "chain":
            if not stripped:
                self.end = n
                return True
            return False
        if not stripped:
            if phase == "exception":
                self.phase = "blank"
            return True
        if phase == "blank":
            # a message with a blank line inside (huggingface_hub's GatedRepoError): only when every line
            # carries the traceback's own prefix, so that the blank line cannot be the end of a bare traceback
            if not self.prefix or len(self.exception) >= MAX_EXCEPTION_LINES or _RECORD_START.match(body):
                return False
            self.phase = "exception"
        # phase == exception: continuation lines of the message
        if len(self.exception) >= MAX_EXCEPTION_LINES or _RECORD_START.match(body):
            return False
        self.exception.append((n, text))
        self.end = n
        return True

    def finish(self) -> TracebackEvent:
        exceptions = self.chain + ([self.exception] if self.exception else [])
        if not exceptions:
            exceptions = [[(self.start, f"{self.prefix}{HEADER} (no exception line)")]]
        return TracebackEvent(start=self.start, end=self.end, prefix=self.prefix, level=self.level,
                              frames=self.frames, location=self.location, exceptions=exceptions)

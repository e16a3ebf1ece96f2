"""`digest_log`: one streaming pass over a log, then a budgeted `LogDigest`.

The pass works on chunks of bytes lines (`sources`), with C-level operations
over a whole chunk: delete the digits (``bytes.translate``), split, count each
digit-free *shape* (``Counter``) and note its last line (``dict(zip(...))``). Python
work is then per distinct shape, not per line: a cache maps a shape to its `Group`.
Only a new shape costs the full work (decode, progress-bar and level detection,
masking, the signature matcher); shapes that differ only in hex ids/hashes meet
in a second cache keyed with those deleted too (a regex, run once per chunk over
the new lines only). Because masking treats every digit and every 8+ hex run as
variable, lines sharing those keys share a template. A third cache serves info
lines whose template holds a hex id: keyed on the line without digits and
without the letters a-f (one ``translate``), so request-id lines cost no regex;
it may join two info lines that differ only in those letters, never error or
warning lines, whose deduplication stays exact. A chunk holding a traceback
header goes line by line from there (`tracebacks` joins it) until no traceback
is open. Lines are cleaned of ANSI only when kept. Blank lines, and lines of
digits only, are counted in `total_lines` and otherwise skipped.

The decisive (fatal) line, kept verbatim with its line number, is chosen in this order:
1. the exception of the last traceback (chained: its last exception that is not a wrapper), or,
   if an error line naming a known failure (`classify.FATAL_PHRASES` or a matched signature)
   comes after it, that line;
2. else the last error line naming a known failure;
3. else the last ERROR/CRITICAL/fatal line that is not a wrapper;
4. else the last wrapper ("Engine core initialization failed. See root cause above.");
5. else the last warning line naming a known failure; else none.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, deque
from pathlib import Path
from typing import Callable, Iterable, Literal

from pydantic import BaseModel, Field, PrivateAttr

from modeldeploy.tools.logs.classify import ERROR, INFO, WARNING, has_fatal_phrase, is_wrapper, line_level
from modeldeploy.tools.logs.clean import progress_label, strip_ansi_bytes, strip_spinner
from modeldeploy.tools.logs.mask import mask_line
from modeldeploy.tools.logs.mining import Group, merge_templates
from modeldeploy.tools.logs.tracebacks import HEADER, HEADER_B, MAX_IDLE_LINES, OpenTraceback, TracebackEvent

log = logging.getLogger(__name__)

Matcher = Callable[[str], list[str]]
DEFAULT_BUDGET = 1500
MIN_BUDGET = 100
MAX_GROUPS = 50_000          # distinct templates kept; beyond, lines are counted in an overflow group per level
MAX_SHAPES = 200_000         # shape cache entries before it is cleared
_DIGITS = b"0123456789"
_HEX_RUNS = re.compile(rb"\b[0-9a-fA-F]{8,}(?:-[0-9a-fA-F]{4}){0,3}(?:-[0-9a-fA-F]{12})?\b")
_HEXISH = re.compile(rb"[0-9a-fA-F]{8}")
_HEX_LOWER = b"abcdef"
_BLANK = object()


class LogGroup(BaseModel):
    """Lines sharing one masked template."""
    template: str = Field(description="The masked line (variable parts as <NUM>, <PATH>, <SIZE>, ...; <*> after a merge).")
    level: Literal["error", "warning", "info"]
    count: int = Field(description="How many lines (or tracebacks) had this template.")
    first_line: int = Field(description="1-based line number of the first occurrence.")
    last_line: int = Field(description="1-based line number of the last occurrence.")
    example: str = Field(description="One occurrence verbatim (the first; for a progress bar its last state; "
                                     "for a traceback its exception lines).")
    kind: Literal["line", "traceback", "progress", "overflow"] = "line"
    signatures: list[str] = Field(default_factory=list, description="Known signature ids matched in this group.")
    location: str | None = Field(default=None, description="Traceback groups: the innermost frame.")
    fatal: bool = Field(default=False, description="This group holds the fatal line.")


class TailMeta(BaseModel):
    """Where a tail entry comes from: one line, a run of similar lines, or elided traceback frames."""
    first_line: int
    last_line: int
    count: int = 1
    kind: Literal["line", "repeat", "frames"] = "line"


class LogDigest(BaseModel):
    """What a log says, in at most `budget_tokens` tokens once rendered (tokens = ceil(chars / 4))."""
    source: str = Field(description='The file path, "text" for text and lines, or the name the caller gave.')
    total_lines: int
    budget_tokens: int = DEFAULT_BUDGET
    fatal: str | None = Field(default=None, description="The decisive line(s), verbatim (several lines for a "
                                                         "multi-line exception message).")
    fatal_line: int | None = Field(default=None, description="1-based line number of the fatal line.")
    signatures: list[str] = Field(default_factory=list, description="Known signature ids, first seen first.")
    groups: list[LogGroup] = Field(default_factory=list, description="Errors, then warnings, then info templates, "
                                                                      "as many as fit the budget.")
    tail: list[str] = Field(default_factory=list, description="The last lines, verbatim, oldest first.")
    tail_meta: list[TailMeta] = Field(default_factory=list, description="Line numbers of each tail entry.")
    counts: dict[str, int] = Field(default_factory=dict, description="Lines per level (error, warning, info).")
    omitted: dict[str, int] = Field(default_factory=dict, description="What did not fit the budget.")
    tokens: int = Field(default=0, description="Estimated tokens of render().")
    truncated: bool = Field(default=False, description="Something was left out or shortened to fit the budget.")
    _fatal_chars: int | None = PrivateAttr(default=None)   # the fatal block's display limit, when it had to shrink

    def render(self) -> str:
        """Compact text for prompts: signatures, the fatal line, error/warning groups, top info templates, tail."""
        from modeldeploy.tools.logs.render import render_digest

        return render_digest(self)


def default_matcher() -> Matcher | None:
    """`modeldeploy.tools.diagnosis.signatures.match_line` if that module exists, else None."""
    target = "modeldeploy.tools.diagnosis.signatures"
    try:
        from modeldeploy.tools.diagnosis.signatures import match_line  # type: ignore[import-not-found]
    except ImportError as exc:
        name = getattr(exc, "name", None) or ""
        if name and (target.startswith(name) or name.startswith(target)):
            return None
        raise
    return match_line


class _LineRef:
    """Line `index` of a chunk, read only if it is ever needed (a fatal candidate that may be superseded)."""

    __slots__ = ("chunk", "index")

    def __init__(self, chunk: bytes, index: int):
        self.chunk, self.index = chunk, index

    def get(self) -> bytes:
        return self.chunk.split(b"\n", self.index + 1)[self.index]


class _Digester:
    """The single pass. Feed cleaned chunks to `run`, then `finish()`."""

    def __init__(self, tail_lines: int, matcher: Matcher | None):
        self.n = 0
        self.cache: dict[bytes, object] = {}       # digit-free line -> Group
        self.cache2: dict[bytes, object] = {}      # digit- and hex-run-free line -> Group (request ids, hashes)
        self.cache3: dict[bytes, Group] = {}       # digit- and a-f-free line -> info Group whose template has a hex id
        self.templates: dict[str, Group] = {}
        self.tb_groups: dict[str, Group] = {}
        self.overflow: dict[str, Group] = {}
        self.tail_n = max(tail_lines, 0)
        self.tail: deque[list] = deque(maxlen=self.tail_n)
        self.open: list[OpenTraceback] = []
        self.tb_lines = {ERROR: 0, WARNING: 0}
        self.matcher = matcher
        self.matcher_failed = False
        self.sig_hits: list[tuple[int, str]] = []
        self.cand: dict[str, tuple[int, bytes | str, Group]] = {}

    def run(self, chunks: Iterable[bytes]) -> None:
        """Each chunk: lines go the fast path, except from a traceback header until no traceback is open."""
        for chunk in chunks:
            while True:
                if self.open:
                    lines = chunk.split(b"\n")
                    done = self._slow(lines)
                    if done == len(lines):
                        break
                    chunk = b"\n".join(lines[done:])
                    continue
                pos = chunk.find(HEADER_B)
                if pos < 0:
                    self._fast(chunk)
                    break
                cut = chunk.rfind(b"\n", 0, pos)
                if cut >= 0:
                    self._fast(chunk[:cut])
                    chunk = chunk[cut + 1:]
                lines = chunk.split(b"\n")
                done = self._slow(lines)
                if done == len(lines):
                    break
                chunk = b"\n".join(lines[done:])

    # -- fast path: a block of lines, no traceback in it -------------------------------------------
    def _fast(self, chunk: bytes) -> None:
        """Counts, first/last lines and candidates per shape with C-level passes; Python only per distinct shape.

        The raw lines are split only when needed (new shapes, progress bars); a candidate's line is kept as a
        reference into the chunk and read at the end."""
        shapes = chunk.translate(None, _DIGITS).split(b"\n")
        base, m = self.n, len(shapes)
        self.n = base + m
        lines: list[bytes] | None = None
        counts = Counter(shapes)                                         # C: lines per shape
        last_of = dict(zip(shapes, range(base + 1, base + 1 + m)))       # C: the last line of each shape
        cache_get = self.cache.get
        gmap = {shape: cache_get(shape) for shape in counts}
        misses = [shape for shape, g in gmap.items() if g is None]
        if misses and self.cache3:
            # info lines that differ only in a hex id (request ids): their digit- and a-f-free shape, no regex
            cache3_get = self.cache3.get
            for shape in misses:
                gmap[shape] = cache3_get(shape.translate(None, _HEX_LOWER))
            misses = [shape for shape in misses if gmap[shape] is None]
        if misses:
            lines = chunk.split(b"\n")
            idx = [last_of[shape] - base - 1 for shape in misses]
            # second-level keys of all misses at once (C): lines that differ only in ids/hashes share a group
            blob = strip_ansi_bytes(b"\n".join([lines[i] for i in idx]))
            keys2 = (_HEX_RUNS.sub(b"", blob).translate(None, _DIGITS).split(b"\n") if _HEXISH.search(blob)
                     else misses)
            cache2_get = self.cache2.get
            for shape, key2 in zip(misses, keys2):
                g = cache2_get(key2)
                if g is None:
                    first = shapes.index(shape)
                    g = self._new_shape(shape, lines[first], base + 1 + first, key2)
                elif key2 == shape:
                    self.cache[shape] = g
                gmap[shape] = g
                if g is not _BLANK and g.hexy:
                    self.cache3[shape.translate(None, _HEX_LOWER)] = g
        for shape, count in counts.items():
            g = gmap[shape]
            if g is _BLANK:
                continue
            g.count += count
            n = last_of[shape]
            if n > g.last:
                g.last = n
                if g.progress:
                    if lines is None:
                        lines = chunk.split(b"\n")
                    g.last_raw = lines[n - base - 1]
            if g.rank < 2:
                self._candidate(n, lines[n - base - 1] if lines is not None else _LineRef(chunk, n - base - 1), g)
        if self.tail_n:
            self._fast_tail(chunk, lines, shapes, gmap, base)

    def _fast_tail(self, chunk: bytes, lines: list[bytes] | None, shapes: list[bytes], gmap: dict,
                   base: int) -> None:
        """Walk back from the end of the block until the tail is full (runs of one group collapse)."""
        entries: list[list] = []
        i = len(shapes) - 1
        while i >= 0:
            g = gmap[shapes[i]]
            if g is not _BLANK:
                if entries and entries[-1][3] is g:
                    e = entries[-1]
                    e[0] = base + 1 + i
                    e[4] += 1
                elif len(entries) == self.tail_n:
                    break
                else:
                    entries.append([base + 1 + i, base + 1 + i, i, g, 1, "line"])
            i -= 1
        if not entries:
            return
        if lines is None:                       # only the walked end of the block: rsplit, not split
            k = len(shapes) - 1 - i
            end_lines = chunk.rsplit(b"\n", k)[-k:] if k < len(shapes) else chunk.split(b"\n")
            offset = len(shapes) - len(end_lines)
            for e in entries:
                e[2] = end_lines[e[2] - offset]
        else:
            for e in entries:
                e[2] = lines[e[2]]
        entries.reverse()
        tail = self.tail
        if i < 0 and tail and tail[-1][3] is entries[0][3]:     # a run that goes on from the previous block
            prev, first = tail[-1], entries[0]
            first[0], first[4] = prev[0], first[4] + prev[4]
            tail.pop()
        if len(entries) >= self.tail_n:
            tail.clear()
        tail.extend(entries)

    # -- slow path: line by line (tracebacks open or starting) -------------------------------------
    def _slow(self, lines: list[bytes]) -> int:
        """Line by line; returns how many lines it took (it stops once no traceback is open any more)."""
        cache_get = self.cache.get
        tail = self.tail
        n = self.n
        had_open = False
        for k, raw in enumerate(lines):
            if had_open and not self.open:
                return k
            if b"\x1b" in raw:
                raw = strip_ansi_bytes(raw)
            n += 1
            self.n = n
            if self.open or HEADER_B in raw:
                had_open = True
                if self._traceback_line(n, raw):
                    continue
            shape = raw.translate(None, _DIGITS)
            g = cache_get(shape)
            if g is None:
                g = self._new_shape(shape, raw, n)
            if g is _BLANK:
                continue
            g.count += 1
            if n > g.last:
                g.last = n
            if g.progress:
                g.last_raw = raw
            if g.rank < 2:
                self._candidate(n, raw, g)
            if tail and tail[-1][3] is g:
                t = tail[-1]
                t[1] = n
                t[2] = raw
                t[4] += 1
            else:
                tail.append([n, n, raw, g, 1, "line"])
        return len(lines)

    # -- new shapes ----------------------------------------------------------------------------------
    def _new_shape(self, shape: bytes, raw: bytes, n: int, shape2: bytes | None = None):
        """A line shape not seen yet: its group (an existing one when only ids differ), created if new.

        `shape2` is the second-level key (hex runs of 8+ characters and UUIDs deleted too) when known."""
        if len(self.cache) >= MAX_SHAPES:
            self.cache.clear()
            self.cache2.clear()
            self.cache3.clear()
        raw = strip_ansi_bytes(raw)
        if not shape.strip():          # blank, or digits only: the same digit-free shape, so skipped alike
            self.cache[shape] = _BLANK
            return _BLANK
        if shape2 is None:
            shape2 = _HEX_RUNS.sub(b"", raw).translate(None, _DIGITS) if _HEXISH.search(raw) else shape
            g = self.cache2.get(shape2)
            if g is not None:
                if shape2 == shape:
                    self.cache[shape] = g
                return g
        text = raw.decode("utf-8", "replace")
        if not text.strip():
            self.cache[shape] = self.cache2[shape2] = _BLANK
            return _BLANK
        label = progress_label(text) if ("%" in text or "/s]" in text or "it [" in text or "|" in text) else None
        if label is not None:
            template, level, kind = mask_line(strip_spinner(label)) + " <PROGRESS>", INFO, "progress"
        else:
            visible = strip_spinner(text)
            template, level, kind = mask_line(visible), line_level(visible), "line"
        g = self.templates.get(template)
        if g is None:
            if len(self.templates) >= MAX_GROUPS:
                g = self._overflow(level, n, text)
            else:
                g = Group(template, level, kind, n, text)
                self.templates[template] = g
                self._annotate(g, [text], n)
        self.cache[shape] = self.cache2[shape2] = g
        return g

    def _overflow(self, level: str, n: int, text: str) -> Group:
        g = self.overflow.get(level)
        if g is None:
            g = self.overflow[level] = Group(f"<other {level} lines: too many distinct templates>", level,
                                             "overflow", n, text)
        return g

    def _annotate(self, g: Group, texts: list[str], n: int) -> None:
        """Signature ids (the matcher), known fatal phrase, wrapper: once per new group."""
        if g.kind == "progress":
            return
        joined = "\n".join(texts)
        g.phrase = has_fatal_phrase(joined)
        g.wrapper = is_wrapper(joined)
        if self.matcher is not None and g.kind != "overflow":
            for text in texts:
                try:
                    ids = self.matcher(text) or []
                except Exception as exc:  # a broken matcher must not lose the digest
                    if not self.matcher_failed:
                        log.warning("signature matcher failed: %s", exc)
                        self.matcher_failed = True
                    ids = []
                for sig in ids:
                    if sig not in g.signatures:
                        g.signatures.append(sig)
                        self.sig_hits.append((n, sig))
        if g.signatures:
            g.phrase = True

    # -- fatal candidates ----------------------------------------------------------------------------
    def _candidate(self, n: int, raw: bytes, g: Group) -> None:
        if g.level == ERROR:
            slot = "wrapper" if g.wrapper else "phrase" if g.phrase else "error"
        elif g.phrase and not g.wrapper:
            slot = "phrase_warning"
        else:
            return
        current = self.cand.get(slot)
        if current is None or current[0] <= n:
            self.cand[slot] = (n, raw, g)

    def _offer(self, slot: str, n: int, text: bytes | str, g: Group) -> None:
        current = self.cand.get(slot)
        if current is None or current[0] <= n:
            self.cand[slot] = (n, text, g)

    # -- tracebacks ----------------------------------------------------------------------------------
    def _traceback_line(self, n: int, raw: bytes) -> bool:
        """True when the line belongs to a traceback (opened, continued or chained by it)."""
        text = raw.decode("utf-8", "replace")
        idx = text.find(HEADER) if HEADER_B in raw else -1
        if idx >= 0:
            key = mask_line(text[:idx])
            tb = next((t for t in self.open if t.prefix_key == key), None)
            if tb is not None and tb.phase == "chain":
                tb.restart(n)
                tb.idle = 0
            else:
                if tb is not None:
                    self._close(tb)
                tb = OpenTraceback.begin(n, text, idx)
                self.open.append(tb)
            self.tb_lines[tb.level] += 1
            self._age(tb)
            self._tail_entry(n, raw, n, "line")
            return True
        owner, body = None, None
        for tb in sorted(self.open, key=lambda t: -len(t.prefix)):
            body = tb.body_of(text)
            if body is not None:
                owner = tb
                break
        self._age(owner)
        if owner is None:
            return False
        before = owner.phase
        if owner.feed(n, text, body):
            owner.idle = 0
            self.tb_lines[owner.level] += 1
            if before == "frames" and owner.phase == "frames":
                self._tail_entry(n, (owner.location or "").encode(), owner, "frames")
            elif body.strip():
                self._tail_entry(n, raw, n, "line")
            return True
        self._close(owner)
        return False

    def _age(self, active: OpenTraceback | None) -> None:
        for tb in list(self.open):
            if tb is not active:
                tb.idle += 1
                if tb.idle > MAX_IDLE_LINES:
                    self._close(tb)

    def _tail_entry(self, n: int, payload: bytes, key: object, kind: str) -> None:
        tail = self.tail
        if kind == "frames" and tail and tail[-1][3] is key:
            t = tail[-1]
            t[1], t[2] = n, payload
            t[4] += 1
        else:
            tail.append([n, n, payload, key, 1, kind])

    def _close(self, tb: OpenTraceback) -> None:
        self.open.remove(tb)
        self._event(tb.finish())

    def _event(self, ev: TracebackEvent) -> None:
        last = len(ev.exceptions) - 1
        decisive: tuple[int, str, Group] | None = None
        for i, exc in enumerate(ev.exceptions):
            bodies = [b.strip() for b in ev.bodies(i)]
            template = " | ".join(mask_line(b) for b in bodies)
            line_no = exc[0][0]
            texts = [t for _, t in exc]
            g = self.tb_groups.get(template)
            if g is None:
                g = Group(template, ev.level, "traceback", line_no, "\n".join(texts))
                self.tb_groups[template] = g
                self._annotate(g, texts, line_no)
            g.count += 1
            g.first = min(g.first, line_no)
            g.last = max(g.last, line_no)
            if i == last:
                g.location, g.frames = ev.location, ev.frames
            if ev.level == ERROR and not g.wrapper:
                decisive = (line_no, "\n".join(texts), g)
        if ev.level != ERROR:
            return
        if decisive is not None:
            self._offer("tb", *decisive)
        else:
            exc = ev.exceptions[last]
            self._offer("tb_wrapper", exc[0][0], "\n".join(t for _, t in exc),
                        self.tb_groups[" | ".join(mask_line(b.strip()) for b in ev.bodies(last))])

    # -- the end -------------------------------------------------------------------------------------
    def finish(self) -> None:
        for tb in list(self.open):
            self._close(tb)

    def choose_fatal(self) -> tuple[int, str, Group] | None:
        c = self.cand
        tb, phrase = c.get("tb"), c.get("phrase")
        if tb or phrase:
            best = max((x for x in (tb, phrase) if x), key=lambda x: x[0]) if tb and phrase else (tb or phrase)
            return best
        for slot in ("error",):
            if slot in c:
                return c[slot]
        wrappers = [x for x in (c.get("tb_wrapper"), c.get("wrapper")) if x]
        if wrappers:
            return max(wrappers, key=lambda x: x[0])
        return c.get("phrase_warning")


def _text(payload: bytes | str | _LineRef) -> str:
    if isinstance(payload, _LineRef):
        payload = payload.get()
    return strip_ansi_bytes(payload).decode("utf-8", "replace") if isinstance(payload, bytes) else payload


def _to_model(g: Group) -> LogGroup:
    example = _text(g.last_raw) if g.progress and g.last_raw is not None else g.example
    return LogGroup(template=g.template, level=g.level, count=g.count, first_line=g.first, last_line=g.last,
                    example=example, kind=g.kind, signatures=list(g.signatures), location=g.location, fatal=g.fatal)


def digest_log(source: str | Path | Iterable[str], budget_tokens: int = DEFAULT_BUDGET, tail_lines: int = 20,
               matcher: Matcher | None = None, *, source_name: str | None = None) -> LogDigest:
    """Digest a log. `source`: log text (str), a file (Path, streamed line by line), or an iterable of lines.

    `matcher(line) -> [signature ids]` is asked once per distinct template (and per traceback exception);
    by default `modeldeploy.tools.diagnosis.signatures.match_line` when that module exists
    (pass ``lambda line: []`` to match nothing). The result renders within `budget_tokens`.
    """
    from modeldeploy.tools.logs.render import fit_digest
    from modeldeploy.tools.logs.sources import iter_source_chunks

    if budget_tokens < MIN_BUDGET:
        raise ValueError(f"budget_tokens must be at least {MIN_BUDGET}")
    if tail_lines < 0:
        raise ValueError("tail_lines must be >= 0")
    if matcher is None:
        matcher = default_matcher()
    chunks, name = iter_source_chunks(source)
    d = _Digester(tail_lines, matcher)
    d.run(chunks)
    d.finish()

    fatal = d.choose_fatal()
    if fatal is not None:
        fatal[2].fatal = True
    line_groups = list(d.templates.values())
    info = merge_templates([g for g in line_groups if g.level == INFO])
    groups = [g for g in line_groups if g.level != INFO] + list(d.tb_groups.values()) + info
    groups += list(d.overflow.values())
    counts = {ERROR: d.tb_lines[ERROR], WARNING: d.tb_lines[WARNING], INFO: 0}
    for g in line_groups + list(d.overflow.values()):
        counts[g.level] += g.count
    signatures: list[str] = []
    for _, sig in sorted(d.sig_hits, key=lambda x: x[0]):
        if sig not in signatures:
            signatures.append(sig)
    tail_text, tail_meta = [], []
    for first, last, payload, key, count, kind in d.tail:
        if kind == "frames":
            where = _text(payload)
            tail_text.append(f"[{count} traceback frame line{'s' if count > 1 else ''}"
                             f"{', innermost ' + where if where else ''}]")
        else:
            tail_text.append(_text(payload))
        tail_meta.append(TailMeta(first_line=first, last_line=last, count=count,
                                  kind="frames" if kind == "frames" else "repeat" if count > 1 else "line"))
    full = LogDigest(
        source=source_name or name, total_lines=d.n, budget_tokens=budget_tokens,
        fatal=_text(fatal[1]) if fatal else None, fatal_line=fatal[0] if fatal else None,
        signatures=signatures, groups=[_to_model(g) for g in groups], tail=tail_text, tail_meta=tail_meta,
        counts=counts)
    return fit_digest(full, budget_tokens)

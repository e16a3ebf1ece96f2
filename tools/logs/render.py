"""The digest as text, within a hard token budget (tokens = ceil(characters / 4)).

Always kept: the header, the signature ids and the fatal line (shortened in the
middle only if it alone would break the budget). Then, while they fit, in this
order: error groups (the fatal one, signature matches, then the most recent), the
tail (newest first, contiguous), warning groups (signature matches, then the most
frequent), info templates (most frequent first). A section gets nothing once a
higher one could not fit all of its lines, so what is dropped is always the
lower-priority part: info templates first, then warnings, then the tail shrinks
(then errors). What does not fit is counted on an ``omitted`` line. Long single
lines are clipped to `ITEM_CHARS` (a display rule, not an omission).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from modeldeploy.schemas.text import elide_middle

if TYPE_CHECKING:  # pragma: no cover
    from modeldeploy.tools.logs.digest import LogDigest, LogGroup

ITEM_CHARS = 320
INFO_CHARS = 200
FATAL_GROUP_CHARS = 160
MIN_FATAL_CHARS = 60


_NUM = r"(?:\d+|<NUM>)"
_TS = r"(?:<TS>|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?Z?|\d\d-\d\d \d\d:\d\d:\d\d(?:[.,]\d+)?)"
_LV = r"(?:INFO|WARNING|WARN|ERROR|DEBUG|CRITICAL|FATAL|TRACE)"
_LOG_PREFIX = re.compile("|".join([
    rf"^\([\w<>]+ pid={_NUM}\)\s+(?:{_LV}\s+{_TS}\s+\[[^\]]+\]\s+|{_LV}:\s+)?",   # vLLM (and uvicorn in it)
    rf"^{_TS}\s+{_LV}\s+",                                                      # TGI
    rf"^\[{_TS}(?: [A-Z]+(?:{_NUM})?)*\]\s+",                                    # SGLang
    rf"^{_LV}:\s+",                                                             # uvicorn
    rf"^{_TS}\s+-\s+[\w.]+\s+-\s+{_LV}\s+-\s+",                                  # Python logging
]))


def strip_log_prefix(line: str) -> str:
    """A log line without its framework prefix (process/pid, level, timestamp, source): used in group lines,
    where the section already says the level and the line numbers say when. Tail and fatal stay verbatim."""
    return _LOG_PREFIX.sub("", line, count=1)


def estimate_tokens(text: str) -> int:
    """The token estimate used everywhere: ceil(characters / 4)."""
    return math.ceil(len(text) / 4)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _span(first: int, last: int) -> str:
    return f"L{first}" if first == last else f"L{first}-{last}"


# -- line formats (render and fit use the same ones) ---------------------------------------------------

def header_line(d: "LogDigest") -> str:
    c = d.counts
    return (f"log digest of {d.source}: {d.total_lines} lines (L<n> = line n of the full log); "
            f"{c.get('error', 0)} error, {c.get('warning', 0)} warning, {c.get('info', 0)} info lines")


def signatures_line(d: "LogDigest") -> str:
    return "known signatures: " + (", ".join(d.signatures) if d.signatures else "none matched")


def fatal_lines(d: "LogDigest", limit: int | None) -> list[str]:
    if not d.fatal:
        return ["fatal: none found"]
    rows = d.fatal.split("\n")
    out = [f"fatal (line {d.fatal_line}, verbatim):"] + rows
    if limit is None or sum(len(r) + 1 for r in out) <= limit:
        return out
    # too long for the budget: drop the log prefixes first, then shorten the longest rows in the middle
    out = [out[0]] + [strip_log_prefix(r) for r in out[1:]]
    while sum(len(r) + 1 for r in out) > limit:
        i = max(range(1, len(out)), key=lambda k: len(out[k]))
        excess = sum(len(r) + 1 for r in out) - limit
        target = max(len(out[i]) - excess, MIN_FATAL_CHARS)
        if target >= len(out[i]):
            if len(out) > 2:
                out.pop()
                continue
            break
        out[i] = elide_middle(out[i], target)
    return out


def group_line(g: "LogGroup") -> str:
    sigs = f" [{', '.join(g.signatures)}]" if g.signatures else ""
    if g.level == "info":
        text = strip_log_prefix(g.example if g.kind == "progress" else g.template)
        suffix = " (progress bar, last state)" if g.kind == "progress" else ""
        return f"- x{g.count}{sigs}: {_clip(text, INFO_CHARS)}{suffix}"
    if g.fatal:
        body = _clip(strip_log_prefix(g.template), FATAL_GROUP_CHARS) + " (= fatal)"
    elif g.count == 1:
        body = _clip(" | ".join(strip_log_prefix(x) for x in g.example.split("\n")), ITEM_CHARS)
    else:
        body = _clip(" | ".join(strip_log_prefix(x) for x in g.template.split(" | ")), ITEM_CHARS)
    if g.kind == "traceback":
        body = f"traceback{' at ' + g.location if g.location else ''}: {body}"
    return f"- x{g.count} {_span(g.first_line, g.last_line)}{sigs}: {body}"


def tail_line(text: str, meta) -> str:
    if meta.kind == "repeat":
        return f"{_span(meta.first_line, meta.last_line)}: {_clip(text, ITEM_CHARS)} (x{meta.count} similar, last shown)"
    return f"{_span(meta.first_line, meta.last_line)}: {_clip(text, ITEM_CHARS)}"


SECTION = {"error": "errors (deduplicated; x count, line range):", "warning": "warnings (deduplicated):",
           "info": "info templates (most frequent):", "tail": "last lines:"}


def omitted_line(omitted: dict[str, int]) -> str:
    names = {"error_groups": "error groups", "warning_groups": "warning groups", "info_templates": "info templates",
             "tail_entries": "tail entries"}
    parts = [f"{v} {names[k]}" for k, v in omitted.items() if v]
    return "omitted (budget): " + ", ".join(parts) if parts else ""


def render_digest(d: "LogDigest") -> str:
    out = [header_line(d), signatures_line(d), *fatal_lines(d, getattr(d, "_fatal_chars", None))]
    for level in ("error", "warning", "info"):
        groups = [g for g in d.groups if g.level == level]
        if groups:
            out.append(SECTION[level])
            out.extend(group_line(g) for g in groups)
    if d.tail:
        out.append(SECTION["tail"])
        out.extend(tail_line(t, m) for t, m in zip(d.tail, d.tail_meta))
    om = omitted_line(d.omitted)
    if om:
        out.append(om)
    return "\n".join(out)


# -- fitting ---------------------------------------------------------------------------------------------

def _priority(level: str):
    if level == "error":
        return lambda g: (not g.fatal, not g.signatures, -g.last_line, -g.count)
    if level == "warning":
        return lambda g: (not g.signatures, -g.count, -g.last_line)
    return lambda g: (-g.count, g.first_line)


def fit_digest(full: "LogDigest", budget_tokens: int) -> "LogDigest":
    """The largest digest (by the priorities above) whose render() is at most `budget_tokens`."""
    limit = budget_tokens * 4
    by_level = {lv: sorted((g for g in full.groups if g.level == lv), key=_priority(lv))
                for lv in ("error", "warning", "info")}
    n_tail = len(full.tail)
    worst = omitted_line({"error_groups": len(by_level["error"]), "warning_groups": len(by_level["warning"]),
                          "info_templates": len(by_level["info"]), "tail_entries": n_tail})
    reserve = len(worst) + 1 if worst else 0
    base = len(header_line(full)) + 1 + len(signatures_line(full)) + 1 + reserve
    fatal_full = fatal_lines(full, None)
    fatal_len = sum(len(r) + 1 for r in fatal_full)
    fatal_chars = None
    if base + fatal_len > limit:
        fatal_chars = max(limit - base, MIN_FATAL_CHARS * 2)
        fatal_len = sum(len(r) + 1 for r in fatal_lines(full, fatal_chars))
    used = base + fatal_len

    chosen: dict[str, list] = {"error": [], "warning": [], "info": []}
    tail_keep: list[int] = []
    opened: set[str] = set()

    def add(section: str, line: str) -> bool:
        nonlocal used
        cost = len(line) + 1 + (0 if section in opened else len(SECTION[section]) + 1)
        if used + cost > limit:
            return False
        used += cost
        opened.add(section)
        return True

    # Strict priority between sections: errors, then the tail (newest first, contiguous), then warnings, then
    # info templates. Within a section a line that does not fit is skipped for smaller ones, but then no
    # lower section gets anything: what is dropped is always the lower-priority part.
    complete = True
    for g in by_level["error"]:
        if add("error", group_line(g)):
            chosen["error"].append(g)
        else:
            complete = False
    if complete:
        for i in range(n_tail - 1, -1, -1):
            if not add("tail", tail_line(full.tail[i], full.tail_meta[i])):
                complete = False
                break
            tail_keep.append(i)
    for level in ("warning", "info"):
        if not complete:
            break
        for g in by_level[level]:
            if add(level, group_line(g)):
                chosen[level].append(g)
            else:
                complete = False

    while True:
        omitted = {"error_groups": len(by_level["error"]) - len(chosen["error"]),
                   "warning_groups": len(by_level["warning"]) - len(chosen["warning"]),
                   "info_templates": len(by_level["info"]) - len(chosen["info"]),
                   "tail_entries": n_tail - len(tail_keep)}
        omitted = {k: v for k, v in omitted.items() if v}
        keep = sorted(tail_keep)
        groups = (sorted(chosen["error"], key=lambda g: g.first_line)
                  + sorted(chosen["warning"], key=lambda g: g.first_line) + chosen["info"])
        digest = full.model_copy(update={
            "groups": groups, "tail": [full.tail[i] for i in keep], "tail_meta": [full.tail_meta[i] for i in keep],
            "omitted": omitted, "truncated": bool(omitted) or fatal_chars is not None})
        digest._fatal_chars = fatal_chars
        text = render_digest(digest)
        tokens = estimate_tokens(text)
        if tokens <= budget_tokens:
            digest.tokens = tokens
            return digest
        # safety net (should not happen: costs are exact): drop the lowest-priority part and retry
        for level in ("info", "warning"):
            if chosen[level]:
                chosen[level].pop()
                break
        else:
            if tail_keep:
                tail_keep.pop()
            elif chosen["error"]:
                chosen["error"].pop()
            elif fatal_chars is None or fatal_chars > MIN_FATAL_CHARS:
                fatal_chars = max((fatal_chars or limit) // 2, MIN_FATAL_CHARS)
            else:
                digest.tokens = tokens
                return digest

"""Groups of lines and the template merge.

Every line lands in a `Group` keyed by its masked template: error and warning
lines are deduplicated by that exact key (count, first and last line, one
verbatim example); info lines are template-mined in two steps, the same
exact-key grouping during the pass and, at the end, a light Drain-like merge
(`merge_templates`): templates with the same number of tokens that differ in
exactly one token are joined, the differing position becoming ``<*>``. That
merge only looks at distinct templates (a few thousand at most), never at lines.
"""

from __future__ import annotations

from modeldeploy.tools.logs.classify import LEVEL_RANK

WILDCARD = "<*>"
MIN_MERGE_TOKENS = 3
MAX_MERGE_TOKENS = 80


class Group:
    """One template's lines. `example` is the first line verbatim (the last one for a progress bar)."""

    __slots__ = ("template", "level", "rank", "kind", "count", "first", "last", "example", "last_raw",
                 "signatures", "phrase", "wrapper", "location", "frames", "fatal", "progress", "hexy")

    def __init__(self, template: str, level: str, kind: str, first: int, example: str):
        self.template = template
        self.level = level
        self.rank = LEVEL_RANK[level]
        self.kind = kind                # line | traceback | progress | overflow
        self.count = 0
        self.first = first
        self.last = first
        self.example = example
        self.last_raw: bytes | None = None
        self.signatures: list[str] = []
        self.phrase = False
        self.wrapper = False
        self.location: str | None = None
        self.frames = 0
        self.fatal = False
        self.progress = kind == "progress"
        self.hexy = level == "info" and kind == "line" and ("<HEX>" in template or "<UUID>" in template)


def merge_templates(groups: list[Group]) -> list[Group]:
    """Join info templates that differ in one token (transitively), Drain-style; returns the merged groups."""
    if len(groups) < 2:
        return list(groups)
    tokens = [g.template.split() for g in groups]
    parent = list(range(len(groups)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    seen: dict[tuple, int] = {}
    for i, toks in enumerate(tokens):
        if groups[i].kind != "line" or not MIN_MERGE_TOKENS <= len(toks) <= MAX_MERGE_TOKENS:
            continue
        for pos in range(len(toks)):
            key = (len(toks), pos, *toks[:pos], *toks[pos + 1:])
            j = seen.setdefault(key, i)
            if j != i:
                a, b = find(i), find(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    clusters: dict[int, list[int]] = {}
    for i in range(len(groups)):
        clusters.setdefault(find(i), []).append(i)
    merged: list[Group] = []
    for members in clusters.values():
        if len(members) == 1:
            merged.append(groups[members[0]])
            continue
        base = tokens[members[0]]
        out = list(base)
        for m in members[1:]:
            for pos, tok in enumerate(tokens[m]):
                if out[pos] != tok:
                    out[pos] = WILDCARD
        first = min((groups[m] for m in members), key=lambda g: g.first)
        g = Group(" ".join(out), first.level, "line", first.first, first.example)
        g.count = sum(groups[m].count for m in members)
        g.last = max(groups[m].last for m in members)
        for m in members:
            for sig in groups[m].signatures:
                if sig not in g.signatures:
                    g.signatures.append(sig)
        merged.append(g)
    return merged

"""Pull the deployment-relevant sections out of a model card, trimmed for a prompt.

The README is untrusted text: it is only ever shown to the LLM as quoted notes,
never executed or turned into flags by itself.
"""

from __future__ import annotations

import re

_KEYWORDS = re.compile(r"vllm|sglang|\btgi\b|text-generation-inference|llama\.cpp|llama-server|deploy|serv(e|ing)|"
                       r"inference|quickstart|long text|context|rope|yarn|quantiz", re.I)
_COMMAND = re.compile(r"(vllm serve|python3? -m (vllm|sglang)|docker run|llama-server|text-generation-launcher|--max-model-len|--tensor-parallel)", re.I)
_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)


def _sections(text: str) -> list[tuple[str, str]]:
    parts = re.split(r"(?m)^(#{1,4} .*)$", text)
    out = [("", parts[0])]
    for i in range(1, len(parts) - 1, 2):
        out.append((parts[i].lstrip("#").strip(), parts[i + 1]))
    return out


def deploy_notes(readme: str, max_chars: int = 1200) -> str:
    """Serving-related sections first (those with launch commands before those merely mentioning serving)."""
    text = _FRONT_MATTER.sub("", readme.replace("\r\n", "\n"))
    scored = []
    for title, body in _sections(text):
        if not title:
            continue
        has_command = bool(_COMMAND.search(body))
        if has_command or _KEYWORDS.search(title):
            body = re.sub(r"\n{3,}", "\n\n", body).strip()
            scored.append((0 if has_command else 1, title, body))
    scored.sort(key=lambda s: s[0])
    notes, used = [], 0
    for _, title, body in scored:
        sep = 2 if notes else 0  # the "\n\n" that joins sections
        chunk = f"## {title}\n{body}"
        if used + sep + len(chunk) > max_chars:
            room = max_chars - used - sep - 3
            if room <= 0:
                break
            chunk = chunk[:room] + "..."
        notes.append(chunk)
        used += sep + len(chunk)
        if used >= max_chars:
            break
    return "\n\n".join(notes)

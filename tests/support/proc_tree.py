"""Live processes from /proc: is a pid alive, its descendants, and servers tagged with a deployment.

The process runtime tags every server it starts with MODELDEPLOY_DEPLOYMENT=<name> in its
environment, so a test can find anything a deployment left running, whoever its parent is.
"""

from __future__ import annotations

from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name, or None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")     # a zombie has exited: only its parent's wait is left


def tree(root: int) -> set[int]:
    """root and all its descendants (by the ppid in /proc/PID/stat)."""
    parent_of = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parent_of[int(entry.name)] = int(fields[1])
    found, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parent_of.items() if ppid in found} - found
        found |= more
        grew = bool(more)
    return found


def carrying(marker: str) -> set[int]:
    """Live processes whose environment has `marker`, e.g. "MODELDEPLOY_DEPLOYMENT=md-x-vllm-123abc"."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in environ and alive(int(entry.name)):
            found.add(int(entry.name))
    return found

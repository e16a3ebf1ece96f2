"""Whether a thread's latest snapshot is a run that has not reached its end.

LangGraph's ``StateSnapshot.next`` leaves out tasks whose writes are already saved. A process
killed after a step's writes were saved but before the step's checkpoint was written leaves a
snapshot with an empty ``next`` and the finished task in ``tasks``: not a finished run. Resuming
it (input ``None``) applies the saved writes without running the task again and goes on.
"""

from __future__ import annotations

from typing import Any


def unfinished(snapshot: Any) -> bool:
    """True while the graph has work left on a thread's latest snapshot: pending, interrupted or
    written-but-unstepped tasks (a snapshot read at an older checkpoint id says nothing about the thread).

    ``tasks`` holds every task of the step; ``next`` is the subset without saved writes."""
    return bool(snapshot.tasks)

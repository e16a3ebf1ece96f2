"""The events of one run, buffered so that any number of clients can follow, leave and re-join.

Each event has an id (1, 2, 3...; the `metadata` event is 1). A client re-joining with
`Last-Event-ID: N` gets the events after N; one re-joining without it gets them all again.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Any, AsyncIterator

TERMINAL = frozenset({"end", "error"})


@dataclass(frozen=True)
class Event:
    id: int
    event: str
    data: Any


class EventLog:
    """Append-only (bounded: the oldest events go first) log with waiting readers.

    Readers wait on an asyncio.Event that each append sets and replaces: waiting on it can time out
    (the heartbeat) safely, and no lock is held while a reader's client is being written to."""

    def __init__(self, max_events: int = 20000) -> None:
        self._events: deque[Event] = deque(maxlen=max_events)
        self._next_id = 1
        self._changed = asyncio.Event()
        self.closed = False

    async def append(self, event: str, data: Any) -> None:
        self._events.append(Event(self._next_id, event, data))
        self._next_id += 1
        if event in TERMINAL:
            self.closed = True
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def after(self, last_id: int) -> list[Event]:
        return [e for e in self._events if e.id > last_id]

    async def follow(self, last_id: int = 0, heartbeat_s: float | None = None) -> AsyncIterator[Event | None]:
        """Events after `last_id`, as they come, until the terminal one; None when quiet for `heartbeat_s`."""
        while True:
            changed = self._changed  # taken before reading: an append after this point sets it
            pending = self.after(last_id)
            for e in pending:
                last_id = e.id
                yield e
                if e.event in TERMINAL:
                    return
            if pending:
                continue
            if self.closed:
                return
            try:
                await asyncio.wait_for(changed.wait(), heartbeat_s)
            except TimeoutError:
                yield None

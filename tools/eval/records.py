"""The per-sample JSONL: appended one line per answered request (the crash-safe resume state), compacted at the end.

A line cut short by a crash is ignored on resume; a sample whose prompt hash changed (another template,
another dataset row) or that ended in an error is asked again.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import threading
from pathlib import Path
from typing import IO

import orjson
from pydantic import ValidationError

from modeldeploy.tools.eval.schema import SampleRecord


def samples_path(out: Path, suite: str) -> Path:
    return out / f"samples_{suite}.jsonl"


def read_records(path: Path) -> dict[tuple[str, int], SampleRecord]:
    """The last good record of every (doc_id, repeat) in a samples file; {} when there is none."""
    found: dict[tuple[str, int], SampleRecord] = {}
    if not path.is_file():
        return found
    with path.open(encoding="utf-8") as f:
        for line in f:
            try:
                record = SampleRecord.model_validate(_strip_lm_eval_keys(json.loads(line)))
            except (json.JSONDecodeError, ValidationError):
                continue  # the partial last line of a crashed run
            found[record.key] = record
    return found


def to_line(record: SampleRecord) -> str:
    """Our fields plus lm-eval's sample keys (doc_id, target, resps, filtered_resps, exact_match).

    Serialised by pydantic-core, the lm-eval keys spliced in (~3 us, against ~14 us through model_dump + json)."""
    head = record.model_dump_json()
    return (f'{head[:-1]},"resps":[[{orjson.dumps(record.response).decode()}]],"filtered_resps":'
            f'[{orjson.dumps(record.extracted).decode()}],"exact_match":{"1.0" if record.correct else "0.0"}}}\n')


def _strip_lm_eval_keys(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in ("resps", "filtered_resps", "exact_match")}


class Appender:
    """Appends records as they arrive: a killed process loses at most the last HANDOFF_S of answers (asked again
    on resume) and the lines in flight.

    The file is written by one thread of its own, so the event loop that calls `write` (the graph's evaluate node,
    `langgraph dev`) never blocks on the disk. Lines reach that thread in batches, at most every HANDOFF_S: a
    hand-off per line (a thread wake-up and a GIL switch, ~30 us) was a tenth of the client's CPU per request at
    concurrency 32 (bench/eval_client_overhead.py). Outside a running event loop each line is handed off at once."""

    HANDOFF_S = 0.1

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._drain, name=f"eval-records-{path.name}", daemon=True)
        self._writer.start()
        self._pending: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self.lines: dict[tuple[str, int], str] = {}  # what was written, reused by `compact`

    def _drain(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self._file.write(chunk)
            self._file.flush()

    def write(self, record: SampleRecord) -> None:
        line = to_line(record)
        self.lines[record.key] = line
        self._pending.append(line)
        if self._timer is None:
            try:
                self._timer = asyncio.get_running_loop().call_later(self.HANDOFF_S, self.hand_off)
            except RuntimeError:  # no running loop: nothing to batch with
                self.hand_off()

    def hand_off(self) -> None:
        """Give the writer thread what is pending (call it from the loop that calls `write`)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            self._queue.put("".join(self._pending))
            self._pending = []

    def close(self) -> None:
        """Write what is queued, then close (blocking: call `hand_off` in the loop first, then this in a thread)."""
        self.hand_off()
        self._queue.put(None)
        self._writer.join()
        self._file.close()


def compact(path: Path, records: list[SampleRecord], lines: dict[tuple[str, int], str] | None = None) -> None:
    """Rewrite the file with exactly `records`, in order (atomic rename); `lines` are already serialised ones."""
    lines = lines or {}
    tmp = path.with_suffix(".jsonl.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.writelines(lines.get(r.key) or to_line(r) for r in records)
    os.replace(tmp, path)

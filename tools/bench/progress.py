"""The live terminal display (rich): one bar per load point with completed, failed, in flight and rate."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from modeldeploy.tools.bench.schema import Load, RunResult


class LiveProgress:
    """Counts are plain integers updated per event; rich redraws twice a second from its own thread."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total}"),
                            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=self.console,
                            refresh_per_second=2, transient=False)
        self.task = None
        self.sent = self.done = self.failed = 0
        self.started = 0.0

    def __enter__(self) -> "LiveProgress":
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()

    def start_run(self, load: Load, total: int | None, duration_s: float | None) -> None:
        self.sent = self.done = self.failed = 0
        self.started = time.perf_counter()
        self.task = self.bar.add_task(load.label, total=total or None, info="")

    def event(self, kind: str, record) -> None:
        if kind == "sent":
            self.sent += 1
            return
        self.done += 1
        if record.error:
            self.failed += 1
        elapsed = time.perf_counter() - self.started
        if self.done % 8 == 0 or record.error:
            self.bar.update(self.task, completed=self.done, info=f"in flight {self.sent - self.done}, failed "
                                                                  f"{self.failed}, {self.done / elapsed:.1f} req/s")

    def end_run(self, result: RunResult) -> None:
        flag = "" if result.valid else " [red]client-bound[/red]"
        self.bar.update(self.task, completed=result.completed + result.failed,
                        info=f"{result.request_throughput:.2f} req/s, TTFT p50 {result.ttft_ms.median or 0:.0f} ms, "
                             f"failed {result.failed}{flag}")

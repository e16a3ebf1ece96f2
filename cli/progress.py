"""Draw the graph's custom-stream progress events in the terminal (rich), or nothing when not a TTY."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


class NodeProgress:
    """One line per node: a spinner while it runs, a tick and its time when done."""

    def __init__(self, enabled: bool | None = None):
        self.console = Console(stderr=True)
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                 console=self.console, transient=False, disable=not self.enabled)
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> "NodeProgress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def handle(self, event: dict[str, Any]) -> None:
        node, kind = event.get("node", "?"), event.get("event")
        if kind == "start":
            self.tasks[node] = self.progress.add_task(node.replace("_", " "), total=1)
        elif kind == "done" and node in self.tasks:
            mark = {"ok": "[green]✓[/]", "infeasible": "[yellow]✗[/]", "failed": "[red]✗[/]"}.get(event.get("outcome"), "·")
            text = f"{mark} {node.replace('_', ' ')}" + (f" [dim]{event['message']}[/]" if event.get("message") else "")
            self.progress.update(self.tasks[node], completed=1, description=text)
        elif node in self.tasks and event.get("message"):
            self.progress.update(self.tasks[node], description=f"{node.replace('_', ' ')} [dim]{event['message']}[/]")

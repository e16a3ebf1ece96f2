"""Run the deployment graph from the CLI: SQLite checkpointer, a thread per run, progress events."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from modeldeploy import settings
from modeldeploy.cli.progress import NodeProgress
from modeldeploy.graph import Context, make_builder


async def _run(inputs: dict[str, Any], context: Context, progress: NodeProgress) -> tuple[dict[str, Any], str]:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = settings.checkpoint_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    thread_id = str(uuid.uuid4())
    config = {"configurable": {"thread_id": thread_id}}
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        graph = make_builder().compile(checkpointer=saver, name="modeldeploy")
        with progress:
            async for mode, chunk in graph.astream(inputs, config=config, context=context,
                                                   stream_mode=["custom", "values"]):
                if mode == "custom":
                    progress.handle(chunk)
                else:
                    final = chunk
    return final, thread_id


def run_graph(inputs: dict[str, Any], context: Context, show_progress: bool) -> tuple[dict[str, Any], str]:
    """The final state (JSON-ready dict) and the thread id it is checkpointed under."""
    return asyncio.run(_run(inputs, context, NodeProgress(enabled=None if show_progress else False)))

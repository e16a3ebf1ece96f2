"""A three-node graph run on SQLite by a process that SIGKILLs itself right after one node's writes are saved.

LangGraph saves a finished task's writes, then the step's checkpoint (in the background). The
process dies between the two, which leaves the window a real kill can hit. Each node appends its
name to a log file, so a test sees which nodes ran, in which process.

    python -m killed_graph CHECKPOINTS_DB LOG_FILE THREAD_ID
"""

from __future__ import annotations

import asyncio
import operator
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, TypedDict

from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph

NODES = ("start", "serve", "finish")
KILLED_AFTER = "serve"


class State(TypedDict):
    ran: Annotated[list[str], operator.add]


def builder(log: Path) -> StateGraph:
    def node(name: str):
        def run(state: State) -> dict:
            with log.open("a") as f:
                f.write(f"{name} {os.getpid()}\n")
            return {"ran": [name]}
        return run

    graph = StateGraph(State)
    for name in NODES:
        graph.add_node(name, node(name))
    graph.add_edge(START, NODES[0])
    for a, b in zip(NODES, NODES[1:]):
        graph.add_edge(a, b)
    graph.add_edge(NODES[-1], END)
    return graph


class _KilledAfterWrites(AsyncSqliteSaver):
    async def aput_writes(self, config, writes, task_id, task_path=""):
        await super().aput_writes(config, writes, task_id, task_path)
        after = NODES[NODES.index(KILLED_AFTER) + 1]
        if any(channel == f"branch:to:{after}" for channel, _ in writes):
            os.kill(os.getpid(), signal.SIGKILL)


async def _main(db: str, log: str, thread_id: str) -> None:
    async with _KilledAfterWrites.from_conn_string(db) as saver:
        graph = builder(Path(log)).compile(checkpointer=saver)
        await graph.ainvoke({"ran": []}, {"configurable": {"thread_id": thread_id}}, durability="sync")


if __name__ == "__main__":
    asyncio.run(_main(*sys.argv[1:4]))

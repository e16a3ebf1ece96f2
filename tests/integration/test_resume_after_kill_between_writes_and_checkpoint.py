"""A run killed after a step's writes were saved but before its checkpoint is continued, not restarted.

LangGraph saves a finished task's writes, then the step's checkpoint. A SIGKILL between the two
leaves a snapshot whose ``next`` is empty (LangGraph leaves out tasks with saved writes) although
the graph has not reached its end. Seen in CI: the re-run of a killed `deploy` started a new thread
instead of continuing the old one. Here a process kills itself in that window (tests/support/killed_graph.py)
on a real SQLite file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import killed_graph
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from modeldeploy.api.state_view import thread_status
from modeldeploy.cli.run_graph import _latest_run
from modeldeploy.graph.run_state import unfinished

SUPPORT = Path(killed_graph.__file__).parent


async def test_a_thread_killed_between_writes_and_checkpoint_is_resumed_without_rerunning_the_node(tmp_path):
    db, log = tmp_path / "checkpoints.db", tmp_path / "nodes.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(SUPPORT), os.environ.get("PYTHONPATH")) if p)}
    killed = subprocess.run([sys.executable, "-m", "killed_graph", str(db), str(log), "deploy-x"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["start", "serve"]

    config = {"configurable": {"thread_id": "deploy-x"}}
    async with AsyncSqliteSaver.from_conn_string(str(db)) as saver:
        graph = killed_graph.builder(log).compile(checkpointer=saver)
        snapshot = await graph.aget_state(config)
        assert snapshot.next == () and [t.name for t in snapshot.tasks] == ["serve"]  # the window LangGraph leaves
        assert unfinished(snapshot)
        assert thread_status(snapshot, running=False) == "interrupted"
        assert await _latest_run(graph, "deploy-x") == ("deploy-x", True)

        final = await graph.ainvoke(None, config, durability="sync")
        ran = [line.split() for line in log.read_text().splitlines()]
        assert [name for name, _ in ran] == ["start", "serve", "finish"]  # serve's saved writes applied, not rerun
        assert ran[-1][1] == str(os.getpid())
        assert final["ran"] == ["start", "serve", "finish"]
        done = await graph.aget_state(config)
        assert not unfinished(done) and thread_status(done, running=False) == "idle"
        assert await _latest_run(graph, "deploy-x") == ("deploy-x-2", False)  # a finished run is never overwritten

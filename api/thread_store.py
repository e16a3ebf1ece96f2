"""Threads the API created: id, metadata, timestamps, kept in a table next to the checkpoints (SQLite).

The checkpoints themselves belong to the LangGraph checkpointer. A thread that only the CLI wrote
(`modeldeploy deploy` threads) has checkpoints and no row: the API still serves its state and history.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

TABLE = "modeldeploy_api_threads"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


class ThreadStore:
    """CRUD on the thread table through the checkpointer's aiosqlite connection (and its lock)."""

    def __init__(self, saver: Any) -> None:
        self.saver = saver

    async def setup(self) -> None:
        await self.saver.setup()
        async with self.saver.lock:
            await self.saver.conn.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} (thread_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, "
                "updated_at TEXT NOT NULL, metadata TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL DEFAULT 'idle')")
            await self.saver.conn.commit()

    @staticmethod
    def _row(row: Any) -> dict[str, Any]:
        return {"thread_id": row[0], "created_at": row[1], "updated_at": row[2], "metadata": json.loads(row[3]),
                "status": row[4]}

    async def get(self, thread_id: str) -> dict[str, Any] | None:
        async with self.saver.lock, self.saver.conn.execute(
                f"SELECT thread_id, created_at, updated_at, metadata, status FROM {TABLE} WHERE thread_id = ?",
                (thread_id,)) as cur:
            row = await cur.fetchone()
        return self._row(row) if row else None

    async def create(self, thread_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
        at = now_iso()
        async with self.saver.lock:
            await self.saver.conn.execute(
                f"INSERT INTO {TABLE} (thread_id, created_at, updated_at, metadata, status) VALUES (?, ?, ?, ?, 'idle')",
                (thread_id, at, at, json.dumps(metadata)))
            await self.saver.conn.commit()
        return {"thread_id": thread_id, "created_at": at, "updated_at": at, "metadata": metadata, "status": "idle"}

    async def update(self, thread_id: str, *, metadata: dict[str, Any] | None = None,
                     status: str | None = None) -> None:
        row = await self.get(thread_id)
        if row is None:
            return
        merged = {**row["metadata"], **(metadata or {})}
        async with self.saver.lock:
            await self.saver.conn.execute(
                f"UPDATE {TABLE} SET updated_at = ?, metadata = ?, status = ? WHERE thread_id = ?",
                (now_iso(), json.dumps(merged), status or row["status"], thread_id))
            await self.saver.conn.commit()

    async def delete(self, thread_id: str) -> bool:
        async with self.saver.lock:
            cur = await self.saver.conn.execute(f"DELETE FROM {TABLE} WHERE thread_id = ?", (thread_id,))
            await self.saver.conn.commit()
            deleted = cur.rowcount > 0
        await self.saver.adelete_thread(thread_id)
        return deleted

    async def search(self, *, metadata: dict[str, Any] | None, status: str | None, ids: list[str] | None,
                     limit: int, offset: int, sort_order: str = "desc") -> list[dict[str, Any]]:
        """Rows whose metadata contains `metadata` (key by key), newest first."""
        order = "ASC" if sort_order == "asc" else "DESC"
        async with self.saver.lock, self.saver.conn.execute(
                f"SELECT thread_id, created_at, updated_at, metadata, status FROM {TABLE} "
                f"ORDER BY created_at {order}, thread_id") as cur:
            rows = [self._row(r) for r in await cur.fetchall()]
        wanted = [r for r in rows
                  if all(r["metadata"].get(k) == v for k, v in (metadata or {}).items())
                  and (status is None or r["status"] == status) and (ids is None or r["thread_id"] in ids)]
        return wanted[offset:offset + limit]

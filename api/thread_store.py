"""Threads the API created: id, metadata, status, timestamps (the `api_thread` table of the one database).

The table lives with the experience library (SQLite or PostgreSQL, MODELDEPLOY_DATABASE_URL), so a
team's API servers share their threads the way they share checkpoints. Database work runs in a
thread: the API's event loop never waits on the disk or the network. The checkpoints themselves
belong to the LangGraph checkpointer; a thread only the CLI wrote (`modeldeploy deploy`) has
checkpoints and no row, and the API still serves its state and history.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import delete, select

from modeldeploy.experience_store import ApiThread, Database


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def _row(t: ApiThread) -> dict[str, Any]:
    return {"thread_id": t.thread_id, "created_at": t.created_at.isoformat(), "updated_at": t.updated_at.isoformat(),
            "metadata": dict(t.meta or {}), "status": t.status}


class ThreadStore:
    """CRUD on the thread table; deleting a thread also deletes its checkpoints."""

    def __init__(self, db: Database, saver: Any) -> None:
        self.db, self.saver = db, saver

    async def setup(self) -> None:
        """Nothing to create: open_database migrated the table; the checkpointer set up its own."""

    def _get(self, thread_id: str) -> dict[str, Any] | None:
        with self.db.session() as s:
            t = s.get(ApiThread, thread_id)
            return _row(t) if t else None

    async def get(self, thread_id: str) -> dict[str, Any] | None:
        return await asyncio.to_thread(self._get, thread_id)

    def _create(self, thread_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
        with self.db.session() as s:
            t = ApiThread(thread_id=thread_id, meta=metadata, status="idle")
            s.add(t)
            s.flush()
            return _row(t)

    async def create(self, thread_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(self._create, thread_id, metadata)

    def _update(self, thread_id: str, metadata: dict[str, Any] | None, status: str | None) -> None:
        with self.db.session() as s:
            t = s.get(ApiThread, thread_id)
            if t is None:
                return
            t.meta = {**(t.meta or {}), **(metadata or {})}
            t.status = status or t.status
            t.updated_at = datetime.now(timezone.utc)

    async def update(self, thread_id: str, *, metadata: dict[str, Any] | None = None,
                     status: str | None = None) -> None:
        await asyncio.to_thread(self._update, thread_id, metadata, status)

    def _delete(self, thread_id: str) -> bool:
        with self.db.session() as s:
            return s.execute(delete(ApiThread).where(ApiThread.thread_id == thread_id)).rowcount > 0

    async def delete(self, thread_id: str) -> bool:
        deleted = await asyncio.to_thread(self._delete, thread_id)
        await self.saver.adelete_thread(thread_id)
        return deleted

    def _all(self, newest_first: bool) -> list[dict[str, Any]]:
        order = ApiThread.created_at.desc() if newest_first else ApiThread.created_at.asc()
        with self.db.session() as s:
            return [_row(t) for t in s.scalars(select(ApiThread).order_by(order, ApiThread.thread_id))]

    async def search(self, *, metadata: dict[str, Any] | None, status: str | None, ids: list[str] | None,
                     limit: int, offset: int, sort_order: str = "desc") -> list[dict[str, Any]]:
        """Rows whose metadata contains `metadata` (key by key), newest first."""
        rows = await asyncio.to_thread(self._all, sort_order != "asc")
        wanted = [r for r in rows
                  if all(r["metadata"].get(k) == v for k, v in (metadata or {}).items())
                  and (status is None or r["status"] == status) and (ids is None or r["thread_id"] in ids)]
        return wanted[offset:offset + limit]

"""Toolkit `experience`: search, list and add lessons of the experience library.

Lessons added here come from an agent, so they start as candidates (source
`agent`): they become active only after they helped deployments or when a person
promotes them (`modeldeploy experience promote`), the library's guard against
memory poisoning. Database work runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from pydantic import Field

from modeldeploy.mcp_server.registry import Toolkit, ToolSpec

Scope = Annotated[str | None, Field(description="Leave empty for any.")]


def _search(query: str, scope: dict[str, Any], limit: int) -> dict[str, Any]:
    from modeldeploy.experience_store import LessonScope, open_database, retrieve_lessons

    with open_database() as db:
        found = retrieve_lessons(db, LessonScope(**scope), query=query, limit=limit)
    return {"lessons": [item.to_dict() for item in found]}


def _list(status: str | None) -> dict[str, Any]:
    from modeldeploy.experience_store import lesson_to_dict, list_lessons, open_database

    with open_database() as db:
        return {"lessons": [lesson_to_dict(lesson) for lesson in list_lessons(db, status=status)]}


def _add(fields: dict[str, Any]) -> dict[str, Any]:
    from modeldeploy.experience_store import add_lesson, lesson_to_dict, open_database

    with open_database() as db:
        return lesson_to_dict(add_lesson(db, **fields, source="agent"))


async def search_lessons(
    query: Annotated[str, Field(description="Words to look for, e.g. an error message.")] = "",
    family: Scope = None, framework: Scope = None, framework_version: Scope = None, gpu_arch: Scope = None,
    vram_mib: Annotated[int | None, Field(ge=0, description="GPU memory of the deployment, MiB.")] = None,
    limit: Annotated[int, Field(ge=1, le=50, description="At most this many lessons.")] = 5,
) -> dict[str, Any]:
    """Find the lessons a deployment with this scope would be given (exact signature first, then by relevance,
    strength and recency), each with its status and evidence count. Lessons are advice, not orders."""
    scope = {"family": family, "framework": framework, "framework_version": framework_version,
             "gpu_arch": gpu_arch, "vram_mib": vram_mib}
    return await asyncio.to_thread(_search, query, scope, limit)


async def list_lessons(
    status: Annotated[Literal["candidate", "active", "retired"] | None, Field(description="Only this status.")] = None,
) -> dict[str, Any]:
    """List the lessons of the experience library with their scope, strength and evidence."""
    return await asyncio.to_thread(_list, status)


async def add_lesson(
    kind: Annotated[Literal["fix", "rule", "anti-pattern"], Field(description="What sort of lesson.")],
    text: Annotated[str, Field(min_length=1, max_length=800, description="The lesson, one or two sentences.")],
    family: Scope = None, framework: Scope = None,
    framework_min_version: Scope = None, framework_max_version: Scope = None, gpu_arch: Scope = None,
    min_vram_mib: Annotated[int | None, Field(ge=0, description="Only for GPUs with at least this much memory.")] = None,
    fix: Annotated[dict[str, Any] | None, Field(description="Slot changes, e.g. {\"max_model_len\": 8192}.")] = None,
) -> dict[str, Any]:
    """Add a lesson as a candidate: it becomes active after it helps deployments or when a person promotes it.
    An identical lesson (same kind, text and scope) is returned instead of duplicated."""
    fields = {"kind": kind, "text": text, "family": family, "framework": framework,
              "framework_min_version": framework_min_version, "framework_max_version": framework_max_version,
              "gpu_arch": gpu_arch, "min_vram_mib": min_vram_mib, "fix": fix}
    return await asyncio.to_thread(_add, fields)


TOOLKIT = Toolkit(
    name="experience",
    summary="Search, list and add lessons of the experience library (what past deployments taught).",
    tools=(
        ToolSpec(search_lessons, "search_lessons", "Search lessons", read_only=True, idempotent=True),
        ToolSpec(list_lessons, "list_lessons", "List lessons", read_only=True, idempotent=True),
        ToolSpec(add_lesson, "add_lesson", "Add a candidate lesson", idempotent=True),
    ),
)

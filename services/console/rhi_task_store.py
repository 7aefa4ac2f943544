"""Return home interview tasks as the console holds them, with the child's initials,
year of birth and police reference (services/console/rhi_work.py shows them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.console import rhi_rows
from services.console.tables import episodes, rhi_tasks

CLOSED_SHOWN = 50


def _tasks_query(la_code: str | None) -> Any:
    query = select(
        rhi_tasks,
        episodes.c.initials,
        episodes.c.birth_year,
        episodes.c.force_code,
        episodes.c.episode_ref,
        episodes.c.child_id,
    ).outerjoin(episodes, episodes.c.episode_key == rhi_tasks.c.episode_key)
    if la_code is not None:
        query = query.where(rhi_tasks.c.authority_code == la_code)
    return query


def _open_states() -> Any:
    return rhi_tasks.c.state.is_(None) | rhi_tasks.c.state.in_(rhi_rows.OPEN_RHI_STATES)


async def task(session: AsyncSession, task_id: str) -> Any:
    return (
        (await session.execute(_tasks_query(None).where(rhi_tasks.c.task_id == task_id)))
        .mappings()
        .first()
    )


async def waiting(session: AsyncSession, la_code: str | None) -> Sequence[Any]:
    """Open tasks (of one authority, or all: None), due soonest first."""
    return await _all(
        session,
        _tasks_query(la_code)
        .where(_open_states())
        .order_by(rhi_tasks.c.due_at, rhi_tasks.c.task_id),
    )


async def closed(session: AsyncSession, la_code: str | None) -> Sequence[Any]:
    """The latest closed tasks (of one authority, or all: None)."""
    return await _all(
        session,
        _tasks_query(la_code)
        .where(~_open_states())
        .order_by(rhi_tasks.c.state_at.desc(), rhi_tasks.c.task_id)
        .limit(CLOSED_SHOWN),
    )


async def _all(session: AsyncSession, query: Any) -> Sequence[Any]:
    return (await session.execute(query)).mappings().all()

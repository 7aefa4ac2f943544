"""Return home interview (RHI) tasks: stored, reminded, escalated, noted and closed
with their outcome; each query inside the caller's transaction."""

from __future__ import annotations

from dataclasses import fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.messages import RhiTaskOutcomeV1, RhiTaskState
from services.notifier.model import RhiTask
from services.notifier.tables import child_links, rhi_tasks
from services.runtime.prepared import hot

TASK_COLUMNS = tuple(f.name for f in fields(RhiTask))


def as_task(row: Row[Any]) -> RhiTask:
    """A ``select(rhi_tasks)`` row as the value it stores."""
    return RhiTask(**row._mapping)


async def get_task(session: AsyncSession, task_id: str) -> RhiTask | None:
    query = select(rhi_tasks).where(rhi_tasks.c.task_id == task_id)
    row = (await session.execute(query)).first()
    return as_task(row) if row is not None else None


async def insert_task(session: AsyncSession, task: RhiTask) -> bool:
    """Store a requested task (:meth:`RhiTask.requested`); False when it exists."""
    if await get_task(session, task.task_id) is not None:
        return False
    values = {name: getattr(task, name) for name in TASK_COLUMNS}
    await session.execute(rhi_tasks.insert().values(**values))
    return True


OPEN_TASK_STATES = (
    RhiTaskState.OPEN.value,
    RhiTaskState.REMINDED.value,
    RhiTaskState.ESCALATED.value,
)


async def record_outcome(session: AsyncSession, m: RhiTaskOutcomeV1, now: datetime) -> bool:
    """Close an open task with its outcome; False when it was closed already."""
    result = await session.execute(
        update(rhi_tasks)
        .where(rhi_tasks.c.task_id == m.task_id, rhi_tasks.c.state.in_(OPEN_TASK_STATES))
        .values(
            state=m.outcome.value,
            outcome_reason=m.reason,
            outcome_recorded_by=m.recorded_by,
            outcome_recorded_at=m.recorded_at,
            updated_at=now,
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def _tasks(
    session: AsyncSession, query: Any, params: dict[str, Any] | None = None
) -> list[RhiTask]:
    return [as_task(row) for row in (await session.execute(query, params)).all()]


async def tasks_to_remind(session: AsyncSession, now: datetime, limit: int) -> list[RhiTask]:
    """Open tasks past their reminder time, not yet reminded and not yet overdue (an
    overdue task escalates instead)."""
    return await _tasks(
        session,
        select(rhi_tasks)
        .where(
            rhi_tasks.c.state == RhiTaskState.OPEN.value,
            rhi_tasks.c.reminder_due_at <= now,
            rhi_tasks.c.reminded_at.is_(None),
            rhi_tasks.c.due_at > now,
        )
        .order_by(rhi_tasks.c.reminder_due_at, rhi_tasks.c.task_id)
        .limit(limit)
        .with_for_update(skip_locked=True),
    )


async def tasks_to_escalate(session: AsyncSession, now: datetime, limit: int) -> list[RhiTask]:
    """Tasks with no outcome at their deadline, not yet escalated."""
    return await _tasks(
        session,
        select(rhi_tasks)
        .where(
            rhi_tasks.c.state.in_((RhiTaskState.OPEN.value, RhiTaskState.REMINDED.value)),
            rhi_tasks.c.due_at <= now,
            rhi_tasks.c.escalated_at.is_(None),
        )
        .order_by(rhi_tasks.c.due_at, rhi_tasks.c.task_id)
        .limit(limit)
        .with_for_update(skip_locked=True),
    )


async def mark_task(
    session: AsyncSession, task_id: str, state: RhiTaskState, now: datetime
) -> None:
    values: dict[str, Any] = {"state": state.value, "updated_at": now}
    if state is RhiTaskState.REMINDED:
        values["reminded_at"] = now
    elif state is RhiTaskState.ESCALATED:
        values["escalated_at"] = now
    await session.execute(update(rhi_tasks).where(rhi_tasks.c.task_id == task_id).values(**values))


# open_tasks_for_child's two queries, built once (issue 18: a reported alert to a local
# authority runs one); the open states as equalities, not an IN list SQLAlchemy expands
# on every execution; marked hot, so the consumer's step runs them on the driver
# (services/runtime/prepared.py).
def _open(states: Any) -> Any:
    return or_(*(states == state for state in OPEN_TASK_STATES))


_OPEN_FOR_CHILD = hot(
    select(rhi_tasks)
    .join(
        child_links,
        (child_links.c.force_code == rhi_tasks.c.force_code)
        & (child_links.c.episode_ref == rhi_tasks.c.episode_ref),
    )
    .where(
        child_links.c.child_id == bindparam("child_id"),
        rhi_tasks.c.authority_code == bindparam("authority_code"),
        _open(rhi_tasks.c.state),
    )
)
_OPEN_FOR_BIRTH_DATE = hot(
    select(rhi_tasks).where(
        rhi_tasks.c.authority_code == bindparam("authority_code"),
        rhi_tasks.c.child_date_of_birth
        == bindparam("date_of_birth", type_=rhi_tasks.c.child_date_of_birth.type),
        _open(rhi_tasks.c.state),
    )
)


async def open_tasks_for_child(
    session: AsyncSession,
    authority_code: str,
    given_name: str,
    family_name: str,
    date_of_birth: date,
    child_id: str | None = None,
) -> list[RhiTask]:
    """The authority's open tasks for the child: the episodes of ``child_id`` (the
    router's person index, issue 20); for a message from before it, a child of these
    exact name and date of birth (compared without case). A new episode before the
    interview is noted on them."""
    if child_id is not None:
        return await _tasks(
            session,
            _OPEN_FOR_CHILD,
            {"child_id": child_id, "authority_code": authority_code},
        )
    tasks = await _tasks(
        session,
        _OPEN_FOR_BIRTH_DATE,
        {"authority_code": authority_code, "date_of_birth": date_of_birth},
    )
    return [
        t
        for t in tasks
        if t.child_given_name.casefold() == given_name.casefold()
        and t.child_family_name.casefold() == family_name.casefold()
    ]


async def add_task_note(session: AsyncSession, task_id: str, note: str, now: datetime) -> None:
    task = await get_task(session, task_id)
    notes = f"{task.notes}\n{note}" if task is not None and task.notes else note
    await session.execute(
        update(rhi_tasks).where(rhi_tasks.c.task_id == task_id).values(notes=notes, updated_at=now)
    )


async def list_tasks(
    session: AsyncSession, state: str | None = None, limit: int = 100
) -> list[RhiTask]:
    query = select(rhi_tasks).order_by(rhi_tasks.c.due_at, rhi_tasks.c.task_id).limit(limit)
    if state:
        query = query.where(rhi_tasks.c.state == state)
    return await _tasks(session, query)

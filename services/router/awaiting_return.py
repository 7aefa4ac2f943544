"""RHI tasks waiting for a return (policy ``rhi_trigger = "found"``, issue 21).

Some police feeds send ``found`` and never ``returned``: under the default trigger their
children are owed an interview nobody is asked for. With ``rhi_trigger = "found"`` a
``found`` leaves a row due ``rhi_found_wait_hours`` later instead. What settles it:

- the episode's ``returned`` first: the row is marked ``returned`` and the returned
  event's own task goes out, as under the default trigger;
- the time passing: :func:`open_due` (a loop, from ``open_at``, DESIGN §2: never a
  sleeping handler) opens the task, its return time the time the child was found, and
  a ``returned`` that comes later opens no second task;
- the episode withdrawn: nothing is opened.

A ``returned`` before any ``found`` (events out of order) leaves a ``returned`` row, so a
late ``found`` waits for nothing. Rows are per episode; a second ``found`` keeps the
first's row. The child's details in ``task`` go as soon as the row is settled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, and_, bindparam, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.catalogue import RHI_TASKS_REQUESTED
from schemas.messages import RhiTaskRequestedV1
from services.router.policy import AwaitedRhiTask
from services.router.tables import awaiting_return
from services.runtime import on_connection
from services.runtime.database import Database
from services.runtime.messaging import MessagingTables, OutboxRelay, publish_later
from services.runtime.settings import RelaySettings

log = logging.getLogger(__name__)

WAITING, OPENED, RETURNED, WITHDRAWN = "waiting", "opened", "returned", "withdrawn"
State = Literal["waiting", "opened", "returned", "withdrawn"]
# How often the loop looks for rows that fell due: the wait is counted in hours.
CHECK_INTERVAL_S = 30.0


def _episode(force_code: str, episode_ref: str) -> ColumnElement[bool]:
    c = awaiting_return.c
    return and_(c.force_code == force_code, c.episode_ref == episode_ref)


async def _state(session: AsyncSession, force_code: str, episode_ref: str) -> str | None:
    return await session.scalar(
        select(awaiting_return.c.state).where(_episode(force_code, episode_ref))
    )


async def wait(session: AsyncSession, awaited: AwaitedRhiTask, now: datetime) -> bool:
    """Leave a row for a ``found``; False when the episode has one already (an earlier
    ``found``, or a ``returned`` that came first)."""
    ref = awaited.task.episode
    if await _state(session, ref.force_code, ref.episode_ref) is not None:
        return False
    await session.execute(
        awaiting_return.insert().values(
            force_code=ref.force_code,
            episode_ref=ref.episode_ref,
            state=WAITING,
            open_at=awaited.open_at,
            task_id=awaited.task.task_id,
            task=awaited.task.model_dump(mode="json"),
            created_at=now,
        )
    )
    return True


# A ``returned``'s statements, built once (issue 18); the episode goes as parameters.
_A = awaiting_return.c
_THIS_EPISODE = and_(_A.force_code == bindparam("k_force"), _A.episode_ref == bindparam("k_ref"))
_SETTLE_RETURNED = (
    update(awaiting_return)
    .where(_THIS_EPISODE, _A.state == WAITING)
    .values(state=RETURNED, task=None, settled_at=bindparam("b_now", type_=_A.settled_at.type))
)
_STATE = select(_A.state).where(_THIS_EPISODE)
_REMEMBER = awaiting_return.insert()


async def returned(
    session: AsyncSession, force_code: str, episode_ref: str, now: datetime, remember: bool
) -> bool:
    """A ``returned``: True when it opens its own task, False when a task was opened
    from the ``found`` already. ``remember`` (under ``rhi_trigger = "found"``) leaves a
    row when there is none, so that a ``found`` arriving later does not wait. Its
    statements go in one hand-over to the session's synchronous side."""
    return await on_connection.run(session, _returned, force_code, episode_ref, now, remember)


def _returned(
    connection: Connection, force_code: str, episode_ref: str, now: datetime, remember: bool
) -> bool:
    episode = {"k_force": force_code, "k_ref": episode_ref}
    if connection.execute(_SETTLE_RETURNED, {**episode, "b_now": now}).rowcount:
        return True
    state = connection.execute(_STATE, episode).scalar()
    if state is None and remember:
        connection.execute(
            _REMEMBER,
            {
                "force_code": force_code,
                "episode_ref": episode_ref,
                "state": RETURNED,
                "created_at": now,
                "settled_at": now,
            },
        )
    return bool(state != OPENED)


async def withdraw(session: AsyncSession, force_code: str, episode_ref: str, now: datetime) -> None:
    """The police withdrew the episode: a task still waiting is never opened."""
    await session.execute(
        update(awaiting_return)
        .where(_episode(force_code, episode_ref), awaiting_return.c.state == WAITING)
        .values(state=WITHDRAWN, task=None, settled_at=now)
    )


async def open_due(
    db: Database,
    tables: MessagingTables,
    settings: RelaySettings,
    now: datetime,
    limit: int = 100,
) -> list[str]:
    """Open the tasks whose wait is over, in one transaction: each row moves from
    ``waiting`` once (a ``returned`` handled at the same moment, or another copy of the
    router, finds it moved) and its task goes through the outbox. Returns their ids."""
    opened: list[str] = []
    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(awaiting_return)
                .where(awaiting_return.c.state == WAITING, awaiting_return.c.open_at <= now)
                .order_by(awaiting_return.c.open_at)
                .limit(limit)
            )
        ).all()
        for row in rows:
            moved = await session.execute(
                update(awaiting_return)
                .where(
                    _episode(row.force_code, row.episode_ref),
                    awaiting_return.c.state == WAITING,
                )
                .values(state=OPENED, task=None, settled_at=now)
            )
            if not getattr(moved, "rowcount", 0):
                continue
            task = RhiTaskRequestedV1.model_validate(row.task).model_copy(
                update={"requested_at": now}
            )
            await publish_later(
                session,
                tables,
                settings.topic(RHI_TASKS_REQUESTED.wire),
                f"{row.force_code}:{row.episode_ref}",
                task,
            )
            opened.append(task.task_id)
    for task_id in opened:
        # Ids only: the task names the child.
        log.info("router: RHI task %s opened: no return reported after found", task_id)
    return opened


def loop(
    db: Database,
    tables: MessagingTables,
    settings: RelaySettings,
    relay: OutboxRelay,
    now: Callable[[], datetime],
    interval_s: float = CHECK_INTERVAL_S,
) -> Callable[[], Awaitable[None]]:
    """The router's background loop: :func:`open_due` every ``interval_s``; a failure
    (the database away) is retried at the next turn, the rows wait meanwhile."""

    async def awaiting_return_loop() -> None:
        while True:
            try:
                if await open_due(db, tables, settings, now()):
                    relay.wake()
            except (DBAPIError, OSError) as exc:
                log.warning(
                    "router: RHI tasks awaiting a return not checked (%s)", type(exc).__name__
                )
            await asyncio.sleep(interval_s)

    return awaiting_return_loop

"""Alerts: stored from a request or raised by the notifier, acknowledged, escalated,
cancelled and listed; each query inside the caller's transaction."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import Row, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.messages import AlertState
from services.notifier.model import Alert
from services.notifier.tables import alerts, attempts
from services.runtime import conflicts

DUE_STATES = (AlertState.QUEUED.value, AlertState.TEMPORARY_FAILURE.value)


# The columns of ``notifier_alerts``, which are the fields of an Alert (tests check).
ALERT_COLUMNS = tuple(f.name for f in fields(Alert))
_ALERT_FIELDS = attrgetter(*ALERT_COLUMNS)  # every field at once (an Alert has slots)


def as_alert(row: Row[Any]) -> Alert:
    """A ``select(alerts)`` row as the value it stores."""
    return Alert(**row._mapping)


def alert_values(alert: Alert) -> dict[str, Any]:
    """The row of ``alert``, by column name."""
    return dict(zip(ALERT_COLUMNS, _ALERT_FIELDS(alert), strict=True))


async def get_alert(session: AsyncSession, alert_id: str) -> Alert | None:
    row = (await session.execute(select(alerts).where(alerts.c.alert_id == alert_id))).first()
    return as_alert(row) if row is not None else None


async def insert_alert(session: AsyncSession, alert: Alert) -> bool:
    """Store a requested alert (:meth:`Alert.requested`); False when it is already
    stored (same alert id, or the same event, recipient and kind under another id: the
    unique constraint on those facts)."""
    # The statement is fixed and the values are parameters: SQLAlchemy compiles it once
    # (``.values(...)`` would build and compile a new statement for every alert); one
    # INSERT … ON CONFLICT DO NOTHING, no SELECT first.
    return await conflicts.inserted(session, alerts, alert_values(alert))


async def insert_raised(session: AsyncSession, alert: Alert) -> bool:
    """Store an alert the notifier raised itself (an escalation, an RHI reminder);
    False when it exists already (its id derives from what it is about)."""
    if await get_alert(session, alert.alert_id) is not None:
        return False
    await session.execute(alerts.insert().values(**alert_values(alert)))
    return True


_OPEN_FOR_ACK = (
    AlertState.QUEUED.value,
    AlertState.SENDING.value,
    AlertState.SENT.value,
    AlertState.TEMPORARY_FAILURE.value,
    AlertState.PERMANENT_FAILURE.value,
    AlertState.ESCALATED.value,
)
# The same states said the other way round, for the query: SQLite would search
# ``ix_notifier_alerts_due`` with an IN over the open states and sort every alert not
# closed (250 ms a look at 395,000 alerts in a backlog, before every delivery batch);
# with NOT IN it takes the deadline's index, which holds only what is due.
_CLOSED_FOR_ACK = tuple(sorted(s.value for s in AlertState if s.value not in _OPEN_FOR_ACK))


async def due_for_escalation(session: AsyncSession, now: datetime, limit: int) -> list[Alert]:
    """Alerts nobody acknowledged by their deadline, oldest deadline first."""
    params = {"b_now": now, "b_limit": limit}
    return [as_alert(row) for row in (await session.execute(ESCALATION_DUE, params)).all()]


ESCALATION_DUE = (
    select(alerts)
    .where(
        alerts.c.ack_due_at <= bindparam("b_now", type_=alerts.c.ack_due_at.type),
        alerts.c.acknowledged_at.is_(None),
        alerts.c.state.not_in(_CLOSED_FOR_ACK),
    )
    .order_by(alerts.c.ack_due_at, alerts.c.alert_id)
    .limit(bindparam("b_limit"))
    .with_for_update(skip_locked=True)
)


async def mark_escalated(
    session: AsyncSession,
    alert: Alert,
    level: int | None,
    next_due: datetime | None,
    now: datetime,
) -> None:
    """Record a step of the chain (``level``), or its end (``level`` None). A sent or
    failed alert is then ``escalated``; one still being retried keeps its state."""
    values: dict[str, Any] = {"ack_due_at": next_due, "updated_at": now}
    if level is not None:
        values.update(escalation_level=level, escalated_at=now)
        if alert.state in (AlertState.SENT.value, AlertState.PERMANENT_FAILURE.value):
            values["state"] = AlertState.ESCALATED.value
    await session.execute(
        update(alerts).where(alerts.c.alert_id == alert.alert_id).values(**values)
    )


async def escalate_now(
    session: AsyncSession, alert_id: str, now: datetime, *, not_yet_escalated: bool = False
) -> None:
    """Bring an alert's deadline forward to now (its delivery, or its escalation's,
    failed for good). With ``not_yet_escalated``, only if no step was taken yet: a
    contact already told keeps their time to act."""
    query = update(alerts).where(
        alerts.c.alert_id == alert_id,
        alerts.c.acknowledged_at.is_(None),
        alerts.c.ack_due_at.is_not(None),
    )
    if not_yet_escalated:
        query = query.where(alerts.c.escalation_level == 0)
    await session.execute(query.values(ack_due_at=now, updated_at=now))


async def cancel_unsent(
    session: AsyncSession, now: datetime, *, parent_alert_id: str = "", task_id: str = ""
) -> list[Alert]:
    """Alerts raised about ``parent_alert_id`` or ``task_id`` that have not gone out:
    they become ``cancelled``; returns them."""
    where = (
        alerts.c.parent_alert_id == parent_alert_id
        if parent_alert_id
        else alerts.c.task_id == task_id
    )
    rows = (
        await session.execute(select(alerts).where(where, alerts.c.state.in_(DUE_STATES)))
    ).all()
    if rows:
        await session.execute(
            update(alerts)
            .where(alerts.c.alert_id.in_([r.alert_id for r in rows]))
            .values(state=AlertState.CANCELLED.value, ack_due_at=None, updated_at=now)
        )
    return [as_alert(row) for row in rows]


async def acknowledge(
    session: AsyncSession, alert_id: str, at: datetime, by: str | None, now: datetime
) -> bool:
    """Mark an alert acknowledged; False when it already was."""
    result = await session.execute(
        update(alerts)
        .where(alerts.c.alert_id == alert_id, alerts.c.acknowledged_at.is_(None))
        .values(
            state=AlertState.ACKNOWLEDGED.value,
            acknowledged_at=at,
            acknowledged_by=by,
            ack_due_at=None,
            updated_at=now,
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def list_alerts(
    session: AsyncSession, state: str | None = None, limit: int = 100
) -> list[Alert]:
    query = select(alerts).order_by(alerts.c.created_at.desc(), alerts.c.alert_id).limit(limit)
    if state:
        query = query.where(alerts.c.state == state)
    return [as_alert(row) for row in (await session.execute(query)).all()]


async def list_attempts(session: AsyncSession, alert_id: str) -> list[Row[Any]]:
    return list(
        (
            await session.execute(
                select(attempts).where(attempts.c.alert_id == alert_id).order_by(attempts.c.attempt)
            )
        ).all()
    )


async def count_due(session: AsyncSession, now: datetime) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(alerts)
            .where(alerts.c.state.in_(DUE_STATES), alerts.c.due_at <= now)
        )
        or 0
    )

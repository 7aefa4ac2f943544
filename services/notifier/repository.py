"""Queries over the notifier's tables, each inside the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.messages import (
    AlertRequestedV1,
    AlertState,
    RhiTaskOutcomeV1,
    RhiTaskRequestedV1,
    RhiTaskState,
)
from services.notifier.delivery import NextStep
from services.notifier.tables import alerts, attempts, rhi_tasks

DUE_STATES = (AlertState.QUEUED.value, AlertState.TEMPORARY_FAILURE.value)
INTERRUPTED = "interrupted"


async def get_alert(session: AsyncSession, alert_id: str) -> Row[Any] | None:
    return (await session.execute(select(alerts).where(alerts.c.alert_id == alert_id))).first()


async def insert_alert(session: AsyncSession, m: AlertRequestedV1, now: datetime) -> bool:
    """Store a requested alert, queued and due now; False when it is already stored
    (same alert id, or the same event, recipient and kind under another id)."""
    exists = await session.scalar(
        select(alerts.c.alert_id).where(
            (alerts.c.alert_id == m.alert_id)
            | and_(
                alerts.c.event_message_id == m.episode.event_message_id,
                alerts.c.recipient_code == m.recipient.code,
                alerts.c.kind == m.kind.value,
            )
        )
    )
    if exists is not None:
        return False
    contact = m.police_contact
    await session.execute(
        alerts.insert().values(
            alert_id=m.alert_id,
            kind=m.kind.value,
            recipient_code=m.recipient.code,
            recipient_kind=m.recipient.kind.value,
            recipient_name=m.recipient.name,
            recipient_email=m.recipient.email,
            recipient_escalation_email=m.recipient.escalation_email,
            recipient_la_code=m.recipient.la_code,
            child_given_name=m.child.given_name,
            child_family_name=m.child.family_name,
            child_date_of_birth=m.child.date_of_birth,
            force_code=m.episode.force_code,
            episode_ref=m.episode.episode_ref,
            event_id=m.episode.event_id,
            event_message_id=m.episode.event_message_id,
            event_type=m.episode.event_type.value,
            occurred_at=m.episode.occurred_at,
            police_contact_name=contact.name if contact else None,
            police_contact_phone=contact.phone if contact else None,
            police_contact_email=contact.email if contact else None,
            reason=m.reason,
            policy_rule=m.policy_rule,
            roll_record_id=m.roll_record_id,
            state=AlertState.QUEUED.value,
            due_at=now,
            attempts=0,
            requested_at=m.requested_at,
            created_at=now,
            updated_at=now,
        )
    )
    return True


@dataclass(frozen=True)
class Claimed:
    alert: Row[Any]
    attempt: int


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> list[Claimed]:
    """Take up to ``limit`` due alerts, oldest first, mark them ``sending`` and open an
    attempt row for each. Commit before sending: a crash then leaves a visible trace."""
    rows = (
        await session.execute(
            select(alerts)
            .where(alerts.c.state.in_(DUE_STATES), alerts.c.due_at <= now)
            .order_by(alerts.c.due_at, alerts.c.created_at)
            .limit(limit)
            # Copies of the notifier skip each other's rows (PostgreSQL); SQLite serialises.
            .with_for_update(skip_locked=True)
        )
    ).all()
    claimed: list[Claimed] = []
    for row in rows:
        attempt = row.attempts + 1
        await session.execute(
            update(alerts)
            .where(alerts.c.alert_id == row.alert_id)
            .values(
                state=AlertState.SENDING.value,
                attempts=attempt,
                updated_at=now,
                first_attempt_at=func.coalesce(alerts.c.first_attempt_at, now),
            )
        )
        await session.execute(
            attempts.insert().values(
                alert_id=row.alert_id,
                attempt=attempt,
                started_at=now,
                outcome=AlertState.SENDING.value,
            )
        )
        claimed.append(Claimed(row, attempt))
    return claimed


async def finish_attempt(
    session: AsyncSession,
    alert_id: str,
    attempt: int,
    outcome: str,
    now: datetime,
    smtp_code: int | None = None,
    detail: str | None = None,
) -> None:
    await session.execute(
        update(attempts)
        .where(attempts.c.alert_id == alert_id, attempts.c.attempt == attempt)
        .values(
            outcome=outcome,
            finished_at=now,
            smtp_code=smtp_code,
            detail=detail[:500] if detail else None,
        )
    )


async def record_sent(
    session: AsyncSession, alert_id: str, now: datetime, smtp_message_id: str
) -> bool:
    """Mark a sending alert sent; False when it moved on meanwhile (acknowledged)."""
    result = await session.execute(
        update(alerts)
        .where(alerts.c.alert_id == alert_id, alerts.c.state == AlertState.SENDING.value)
        .values(
            state=AlertState.SENT.value,
            sent_at=now,
            smtp_message_id=smtp_message_id,
            last_error=None,
            updated_at=now,
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def record_failure(
    session: AsyncSession, alert_id: str, step: NextStep, now: datetime
) -> bool:
    values: dict[str, Any] = {
        "state": step.state.value,
        "updated_at": now,
        "last_error": step.detail[:500] if step.detail else None,
    }
    if step.due_at is not None:
        values["due_at"] = step.due_at
    result = await session.execute(
        update(alerts)
        .where(alerts.c.alert_id == alert_id, alerts.c.state == AlertState.SENDING.value)
        .values(**values)
    )
    return bool(getattr(result, "rowcount", 0))


async def recover_interrupted(
    session: AsyncSession, now: datetime, older_than: timedelta = timedelta(0)
) -> list[str]:
    """Alerts left ``sending`` (a crash between SMTP and the commit) go back to
    ``queued``, due now; their open attempt says it was interrupted. The email may have
    gone out: it goes again with the same Message-ID (at-least-once)."""
    stuck = (
        await session.execute(
            select(alerts.c.alert_id, alerts.c.attempts)
            .where(
                alerts.c.state == AlertState.SENDING.value, alerts.c.updated_at <= now - older_than
            )
            .with_for_update(skip_locked=True)
        )
    ).all()
    for alert_id, attempt in stuck:
        await session.execute(
            update(alerts)
            .where(alerts.c.alert_id == alert_id)
            .values(state=AlertState.QUEUED.value, due_at=now, updated_at=now)
        )
        await finish_attempt(
            session,
            alert_id,
            attempt,
            INTERRUPTED,
            now,
            detail="the notifier stopped during this attempt; queued again (the email may "
            "have gone out: a resend has the same Message-ID)",
        )
    return [alert_id for alert_id, _ in stuck]


async def acknowledge(
    session: AsyncSession, alert_id: str, at: datetime, by: str | None, now: datetime
) -> bool:
    """Mark an alert acknowledged; False when it already was."""
    result = await session.execute(
        update(alerts)
        .where(alerts.c.alert_id == alert_id, alerts.c.state != AlertState.ACKNOWLEDGED.value)
        .values(
            state=AlertState.ACKNOWLEDGED.value,
            acknowledged_at=at,
            acknowledged_by=by,
            updated_at=now,
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def get_task(session: AsyncSession, task_id: str) -> Row[Any] | None:
    return (await session.execute(select(rhi_tasks).where(rhi_tasks.c.task_id == task_id))).first()


async def insert_task(session: AsyncSession, m: RhiTaskRequestedV1, now: datetime) -> bool:
    if await get_task(session, m.task_id) is not None:
        return False
    await session.execute(
        rhi_tasks.insert().values(
            task_id=m.task_id,
            authority_code=m.authority.code,
            authority_name=m.authority.name,
            authority_email=m.authority.email,
            authority_escalation_email=m.authority.escalation_email,
            child_given_name=m.child.given_name,
            child_family_name=m.child.family_name,
            child_date_of_birth=m.child.date_of_birth,
            force_code=m.episode.force_code,
            episode_ref=m.episode.episode_ref,
            event_id=m.episode.event_id,
            event_message_id=m.episode.event_message_id,
            event_type=m.episode.event_type.value,
            occurred_at=m.episode.occurred_at,
            looked_after=m.looked_after,
            returned_at=m.returned_at,
            due_at=m.due_at,
            state=RhiTaskState.OPEN.value,
            requested_at=m.requested_at,
            created_at=now,
            updated_at=now,
        )
    )
    return True


async def record_outcome(session: AsyncSession, m: RhiTaskOutcomeV1, now: datetime) -> bool:
    result = await session.execute(
        update(rhi_tasks)
        .where(rhi_tasks.c.task_id == m.task_id)
        .values(
            state=m.outcome.value,
            outcome_reason=m.reason,
            outcome_recorded_by=m.recorded_by,
            outcome_recorded_at=m.recorded_at,
            updated_at=now,
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def list_alerts(
    session: AsyncSession, state: str | None = None, limit: int = 100
) -> list[Row[Any]]:
    query = select(alerts).order_by(alerts.c.created_at.desc(), alerts.c.alert_id).limit(limit)
    if state:
        query = query.where(alerts.c.state == state)
    return list((await session.execute(query)).all())


async def list_tasks(
    session: AsyncSession, state: str | None = None, limit: int = 100
) -> list[Row[Any]]:
    query = select(rhi_tasks).order_by(rhi_tasks.c.due_at, rhi_tasks.c.task_id).limit(limit)
    if state:
        query = query.where(rhi_tasks.c.state == state)
    return list((await session.execute(query)).all())


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

"""Queries over the notifier's tables, each inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.messages import (
    AlertRequestedV1,
    AlertState,
    RhiTaskOutcomeV1,
    RhiTaskRequestedV1,
    RhiTaskState,
)
from services.notifier.delivery import NextStep
from services.notifier.tables import (
    alerts,
    attempts,
    audit_chains,
    child_links,
    disclosures,
    rhi_tasks,
)
from services.runtime import audit_chain, conflicts
from services.runtime.retention import RetentionPolicy

DUE_STATES = (AlertState.QUEUED.value, AlertState.TEMPORARY_FAILURE.value)
INTERRUPTED = "interrupted"


async def get_alert(session: AsyncSession, alert_id: str) -> Row[Any] | None:
    return (await session.execute(select(alerts).where(alerts.c.alert_id == alert_id))).first()


async def insert_alert(
    session: AsyncSession, m: AlertRequestedV1, now: datetime, ack_due_at: datetime | None
) -> SimpleNamespace | None:
    """Store a requested alert, queued and due now, and return what was stored (by
    column name); None when it is already stored (same alert id, or the same event,
    recipient and kind under another id: the unique constraint on those facts)."""
    contact = m.police_contact
    authority = m.authority
    # The statement is fixed and the values are parameters: SQLAlchemy compiles it once
    # (``.values(...)`` would build and compile a new statement for every alert); one
    # INSERT … ON CONFLICT DO NOTHING, no SELECT first.
    values = dict(
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
        ack_due_at=ack_due_at,
        authority_code=authority.code if authority else None,
        authority_name=authority.name if authority else None,
        authority_email=authority.email if authority else None,
        urgent=m.urgent,
        child_nhs_number=m.child.nhs_number,
        recipient_out_of_hours_email=m.recipient.out_of_hours_email,
        police_force_email=m.police_force.email if m.police_force else None,
    )
    if not await conflicts.inserted(session, alerts, values):
        return None
    return SimpleNamespace(**values)


async def insert_raised(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Store an alert the notifier raised itself (an escalation, an RHI reminder);
    False when it exists already (its id derives from what it is about)."""
    if await get_alert(session, values["alert_id"]) is not None:
        return False
    await session.execute(alerts.insert().values(**values))
    return True


_OPEN_FOR_ACK = (
    AlertState.QUEUED.value,
    AlertState.SENDING.value,
    AlertState.SENT.value,
    AlertState.TEMPORARY_FAILURE.value,
    AlertState.PERMANENT_FAILURE.value,
    AlertState.ESCALATED.value,
)


async def due_for_escalation(session: AsyncSession, now: datetime, limit: int) -> list[Row[Any]]:
    """Alerts nobody acknowledged by their deadline, oldest deadline first."""
    return list(
        (
            await session.execute(
                select(alerts)
                .where(
                    alerts.c.ack_due_at <= now,
                    alerts.c.acknowledged_at.is_(None),
                    alerts.c.state.in_(_OPEN_FOR_ACK),
                )
                .order_by(alerts.c.ack_due_at, alerts.c.alert_id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
    )


async def mark_escalated(
    session: AsyncSession,
    alert: Row[Any],
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
) -> list[Row[Any]]:
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
    return list(rows)


@dataclass(frozen=True)
class Claimed:
    alert: Row[Any]
    attempt: int


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> list[Claimed]:
    """Take up to ``limit`` due alerts, oldest first, mark them ``sending`` and open an
    attempt row for each. Commit before sending: a crash then leaves a visible trace.
    The claim is a lease: ``updated_at`` is when it was taken or last renewed
    (:func:`renew_claims`), and the attempt number fences it (:func:`record_sent`)."""
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
    if not rows:
        return []
    claimed = [Claimed(row, row.attempts + 1) for row in rows]
    # Two statements for the whole batch, each executed for every row (executemany).
    await session.execute(
        _CLAIM,
        [{"b_alert_id": c.alert.alert_id, "b_attempt": c.attempt, "b_now": now} for c in claimed],
    )
    await session.execute(
        attempts.insert(),
        [
            {
                "alert_id": c.alert.alert_id,
                "attempt": c.attempt,
                "started_at": now,
                "outcome": AlertState.SENDING.value,
            }
            for c in claimed
        ],
    )
    return claimed


def _now_param() -> Any:
    """The ``b_now`` parameter, typed so SQLite gets the same text as other datetimes."""
    return bindparam("b_now", type_=alerts.c.updated_at.type)


_CLAIM = (
    update(alerts)
    .where(alerts.c.alert_id == bindparam("b_alert_id"))
    .values(
        state=AlertState.SENDING.value,
        attempts=bindparam("b_attempt"),
        updated_at=_now_param(),
        first_attempt_at=func.coalesce(alerts.c.first_attempt_at, _now_param()),
    )
)


async def renew_claims(session: AsyncSession, held: Mapping[str, int], now: datetime) -> None:
    """Renew the lease on alerts this copy is sending (alert id -> attempt), unless the
    claim was taken over meanwhile."""
    for alert_id, attempt in held.items():
        await session.execute(
            update(alerts)
            .where(
                alerts.c.alert_id == alert_id,
                alerts.c.attempts == attempt,
                alerts.c.state == AlertState.SENDING.value,
            )
            .values(updated_at=now)
        )


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
        _FINISH_ATTEMPT,
        {
            "b_alert_id": alert_id,
            "b_attempt": attempt,
            "b_outcome": outcome,
            "b_now": now,
            "b_code": smtp_code,
            "b_detail": detail[:500] if detail else None,
        },
    )


# Statements run for every alert are built once; their values are parameters.
_FINISH_ATTEMPT = (
    update(attempts)
    .where(
        attempts.c.alert_id == bindparam("b_alert_id"),
        attempts.c.attempt == bindparam("b_attempt"),
    )
    .values(
        outcome=bindparam("b_outcome"),
        finished_at=_now_param(),
        smtp_code=bindparam("b_code"),
        detail=bindparam("b_detail"),
    )
)


def _claim_still_held(alert_id: str, attempt: int | None) -> Any:
    """The alert is still this attempt's: ``sending``, or queued again by a recovery
    that took this copy for dead but no copy has claimed it since (the attempt number
    moves on with every claim). Without ``attempt``: ``sending``."""
    if attempt is None:
        return and_(alerts.c.alert_id == alert_id, alerts.c.state == AlertState.SENDING.value)
    return and_(
        alerts.c.alert_id == alert_id,
        alerts.c.attempts == attempt,
        alerts.c.state.in_((AlertState.SENDING.value, AlertState.QUEUED.value)),
    )


FINISH_ATTEMPT = _FINISH_ATTEMPT  # for a group of attempts (outcomes.py)


async def record_sent(
    session: AsyncSession,
    alert_id: str,
    now: datetime,
    smtp_message_id: str,
    attempt: int | None = None,
) -> bool:
    """Mark a sending alert sent; False when it moved on meanwhile (acknowledged, or
    claimed again by another copy)."""
    if attempt is None:
        statement = (
            update(alerts)
            .where(_claim_still_held(alert_id, attempt))
            .values(
                state=AlertState.SENT.value,
                sent_at=now,
                smtp_message_id=smtp_message_id,
                last_error=None,
                updated_at=now,
            )
        )
        result = await session.execute(statement)
    else:
        result = await session.execute(
            _RECORD_SENT,
            {
                "b_alert_id": alert_id,
                "b_attempt": attempt,
                "b_now": now,
                "b_message_id": smtp_message_id,
            },
        )
    return bool(getattr(result, "rowcount", 0))


# record_sent with an attempt number: the claim still held (see _claim_still_held).
_RECORD_SENT = (
    update(alerts)
    .where(
        alerts.c.alert_id == bindparam("b_alert_id"),
        alerts.c.attempts == bindparam("b_attempt"),
        alerts.c.state.in_((AlertState.SENDING.value, AlertState.QUEUED.value)),
    )
    .values(
        state=AlertState.SENT.value,
        sent_at=_now_param(),
        smtp_message_id=bindparam("b_message_id"),
        last_error=None,
        updated_at=_now_param(),
    )
)


async def record_failure(
    session: AsyncSession, alert_id: str, step: NextStep, now: datetime, attempt: int | None = None
) -> bool:
    values: dict[str, Any] = {
        "state": step.state.value,
        "updated_at": now,
        "last_error": step.detail[:500] if step.detail else None,
    }
    if step.due_at is not None:
        values["due_at"] = step.due_at
    result = await session.execute(
        update(alerts).where(_claim_still_held(alert_id, attempt)).values(**values)
    )
    return bool(getattr(result, "rowcount", 0))


async def recover_interrupted(
    session: AsyncSession, now: datetime, older_than: timedelta = timedelta(0)
) -> list[str]:
    """Alerts left ``sending`` whose claim nobody renewed for ``older_than`` (the copy
    sending them died: a crash between SMTP and the commit) go back to ``queued``, due
    now; their open attempt says it was interrupted. The email may have gone out: it
    goes again with the same Message-ID (at-least-once)."""
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


async def get_task(session: AsyncSession, task_id: str) -> Row[Any] | None:
    return (await session.execute(select(rhi_tasks).where(rhi_tasks.c.task_id == task_id))).first()


async def insert_task(
    session: AsyncSession,
    m: RhiTaskRequestedV1,
    now: datetime,
    due_at: datetime,
    reminder_due_at: datetime | None,
) -> bool:
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
            due_at=due_at,
            state=RhiTaskState.OPEN.value,
            requested_at=m.requested_at,
            created_at=now,
            updated_at=now,
            reminder_due_at=reminder_due_at,
        )
    )
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


async def tasks_to_remind(session: AsyncSession, now: datetime, limit: int) -> list[Row[Any]]:
    """Open tasks past their reminder time, not yet reminded and not yet overdue (an
    overdue task escalates instead)."""
    return list(
        (
            await session.execute(
                select(rhi_tasks)
                .where(
                    rhi_tasks.c.state == RhiTaskState.OPEN.value,
                    rhi_tasks.c.reminder_due_at <= now,
                    rhi_tasks.c.reminded_at.is_(None),
                    rhi_tasks.c.due_at > now,
                )
                .order_by(rhi_tasks.c.reminder_due_at, rhi_tasks.c.task_id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
    )


async def tasks_to_escalate(session: AsyncSession, now: datetime, limit: int) -> list[Row[Any]]:
    """Tasks with no outcome at their deadline, not yet escalated."""
    return list(
        (
            await session.execute(
                select(rhi_tasks)
                .where(
                    rhi_tasks.c.state.in_((RhiTaskState.OPEN.value, RhiTaskState.REMINDED.value)),
                    rhi_tasks.c.due_at <= now,
                    rhi_tasks.c.escalated_at.is_(None),
                )
                .order_by(rhi_tasks.c.due_at, rhi_tasks.c.task_id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
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


async def open_tasks_for_child(
    session: AsyncSession,
    authority_code: str,
    given_name: str,
    family_name: str,
    date_of_birth: date,
    child_id: str | None = None,
) -> list[Row[Any]]:
    """The authority's open tasks for the child: the episodes of ``child_id`` (the
    router's person index, issue 20); for a message from before it, a child of these
    exact name and date of birth (compared without case). A new episode before the
    interview is noted on them."""
    if child_id is not None:
        links = child_links.c
        return list(
            (
                await session.execute(
                    select(rhi_tasks)
                    .join(
                        child_links,
                        (links.force_code == rhi_tasks.c.force_code)
                        & (links.episode_ref == rhi_tasks.c.episode_ref),
                    )
                    .where(
                        links.child_id == child_id,
                        rhi_tasks.c.authority_code == authority_code,
                        rhi_tasks.c.state.in_(OPEN_TASK_STATES),
                    )
                )
            ).all()
        )
    rows = (
        await session.execute(
            select(rhi_tasks).where(
                rhi_tasks.c.authority_code == authority_code,
                rhi_tasks.c.child_date_of_birth == date_of_birth,
                rhi_tasks.c.state.in_(OPEN_TASK_STATES),
            )
        )
    ).all()
    return [
        r
        for r in rows
        if r.child_given_name.casefold() == given_name.casefold()
        and r.child_family_name.casefold() == family_name.casefold()
    ]


async def add_task_note(session: AsyncSession, task_id: str, note: str, now: datetime) -> None:
    task = await get_task(session, task_id)
    notes = f"{task.notes}\n{note}" if task is not None and task.notes else note
    await session.execute(
        update(rhi_tasks).where(rhi_tasks.c.task_id == task_id).values(notes=notes, updated_at=now)
    )


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


# --- retention ------------------------------------------------------------------------

_OPEN_ALERT_STATES = (
    AlertState.QUEUED.value,
    AlertState.SENDING.value,
    AlertState.TEMPORARY_FAILURE.value,
)
_CLOSED_TASK_STATES = (
    RhiTaskState.COMPLETED.value,
    RhiTaskState.DECLINED.value,
    RhiTaskState.NOT_POSSIBLE.value,
)


async def remove_expired(
    session: AsyncSession, policy: RetentionPolicy, now: datetime
) -> dict[str, int]:
    """Retention (services/runtime/retention.py): alerts done with (not waiting to be
    sent) and their attempts, closed RHI tasks, and the oldest disclosure entries."""
    cutoff = policy.cutoff("alerts", now)
    old = select(alerts.c.alert_id).where(
        alerts.c.created_at < cutoff, alerts.c.state.not_in(_OPEN_ALERT_STATES)
    )
    await session.execute(delete(attempts).where(attempts.c.alert_id.in_(old)))
    gone_alerts = await session.execute(
        delete(alerts).where(
            alerts.c.created_at < cutoff, alerts.c.state.not_in(_OPEN_ALERT_STATES)
        )
    )
    gone_tasks = await session.execute(
        delete(rhi_tasks).where(
            rhi_tasks.c.updated_at < cutoff, rhi_tasks.c.state.in_(_CLOSED_TASK_STATES)
        )
    )
    pruned = await audit_chain.prune_before(
        session, audit_chains, disclosures, "at", policy.cutoff("audit", now)
    )
    return {
        "alerts": int(getattr(gone_alerts, "rowcount", 0) or 0),
        "rhi_tasks": int(getattr(gone_tasks, "rowcount", 0) or 0),
        "audit": pruned,
    }

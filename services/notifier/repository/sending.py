"""The delivery lease: due alerts claimed as ``sending`` with an attempt row, the claim
renewed, fenced by its attempt number when the outcome is recorded, and taken over
from a copy that died."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.messages import AlertState
from services.notifier.delivery import NextStep
from services.notifier.model import Alert
from services.notifier.repository.alerts import DUE_STATES, as_alert
from services.notifier.tables import alerts, attempts
from services.runtime.prepared import Prepared

INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class Claimed:
    alert: Alert
    attempt: int


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> list[Claimed]:
    """Take up to ``limit`` due alerts, oldest first, mark them ``sending`` and open an
    attempt row for each. Commit before sending: a crash then leaves a visible trace.
    The claim is a lease: ``updated_at`` is when it was taken or last renewed
    (:func:`renew_claims`), and the attempt number fences it (:func:`record_sent`).
    Its statements run in one hand-over to the session's synchronous side
    (:func:`claim_due_on`)."""
    return await session.run_sync(lambda sync: claim_due_on(sync.connection(), now, limit))


def claim_due_on(connection: Connection, now: datetime, limit: int) -> list[Claimed]:
    """:func:`claim_due` in ``connection``'s transaction (the delivery loop's own, from
    :meth:`Database.run`: no ``Session`` for it), its statements compiled once and run
    on the driver (services/runtime/prepared.py)."""
    # The oldest of each due state, then the oldest of those: SQLite reads one state's
    # alerts from ``ix_notifier_alerts_due`` in order and stops at ``limit``, where an IN
    # over the states made it sort every queued alert (190 ms a claim at 328,000 queued
    # in a backlog). PostgreSQL locks at most ``limit`` more rows until the commit.
    rows = sorted(
        (
            row
            for state in DUE_STATES
            for row in _DUE.result(connection, {"b_state": state, "b_now": now, "b_limit": limit})
        ),
        key=lambda row: (row.due_at, row.created_at),
    )[:limit]
    if not rows:
        return []
    claimed = [Claimed(alert, alert.attempts + 1) for alert in map(as_alert, rows)]
    # Two statements for the whole batch, each executed for every row (executemany).
    _CLAIM.run_many(
        connection,
        [{"b_alert_id": c.alert.alert_id, "b_attempt": c.attempt, "b_now": now} for c in claimed],
    )
    _OPEN_ATTEMPT.run_many(
        connection,
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


_DUE = Prepared(
    select(alerts)
    .where(alerts.c.state == bindparam("b_state"), alerts.c.due_at <= _now_param())
    .order_by(alerts.c.due_at, alerts.c.created_at)
    .limit(bindparam("b_limit"))
    # Copies of the notifier skip each other's rows (PostgreSQL); SQLite serialises.
    .with_for_update(skip_locked=True)
)
_OPEN_ATTEMPT = Prepared(attempts.insert())
_CLAIM = Prepared(
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

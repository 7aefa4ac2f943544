"""Queries over one episode's alerts and tasks (the episode drives its alerts: issue 17),
each inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.episode import ENDING_EVENTS, MISSING_EVENTS
from schemas.messages import AlertKind, AlertState, RhiTaskState
from services.notifier.model import Alert, RhiTask
from services.notifier.repository.alerts import as_alert
from services.notifier.repository.tasks import OPEN_TASK_STATES, as_task
from services.notifier.tables import alerts, audit_chains, disclosures, rhi_tasks
from services.runtime import audit_chain
from services.runtime.prepared import hot

# An alert still waiting for its recipient's acknowledgement (sending: on its way).
_AWAITING = (
    AlertState.QUEUED.value,
    AlertState.SENDING.value,
    AlertState.SENT.value,
    AlertState.TEMPORARY_FAILURE.value,
    AlertState.PERMANENT_FAILURE.value,
    AlertState.ESCALATED.value,
)
_UNSENT = (AlertState.QUEUED.value, AlertState.TEMPORARY_FAILURE.value)
# Notices about the episode itself: never stood down or withdrawn.
_NOTICES = (AlertKind.WITHDRAWN.value, AlertKind.ANSWER.value)
_MISSING_TYPES = tuple(t.value for t in MISSING_EVENTS)


def _of_episode(force_code: str, episode_ref: str) -> Any:
    return (alerts.c.force_code == force_code) & (alerts.c.episode_ref == episode_ref)


# Built once (issue 18: building a statement costs more than running it here), and run
# on the driver in the consumer's step (services/runtime/prepared.py).
_AWAITING_BEFORE = hot(
    select(alerts)
    .where(
        alerts.c.force_code == bindparam("force_code"),
        alerts.c.episode_ref == bindparam("episode_ref"),
        alerts.c.parent_alert_id == "",
        # Equalities, not IN lists: SQLAlchemy expands those on every execution.
        or_(*(alerts.c.event_type == t for t in _MISSING_TYPES)),
        alerts.c.kind != AlertKind.REPEAT_MISSING.value,
        alerts.c.occurred_at <= bindparam("until"),
        alerts.c.acknowledged_at.is_(None),
        or_(*(alerts.c.state == state for state in _AWAITING)),
    )
    .order_by(alerts.c.created_at, alerts.c.alert_id)
    .with_for_update()
)


async def awaiting_before(
    session: AsyncSession, force_code: str, episode_ref: str, until: datetime
) -> list[Alert]:
    """The episode's alerts about the child being missing (reported, still missing, risk
    changed; not the MSET's repeat-missing flag, which is about the pattern and stays
    open) for events up to ``until``, not acknowledged, still waiting."""
    params = {"force_code": force_code, "episode_ref": episode_ref, "until": until}
    return [as_alert(row) for row in (await session.execute(_AWAITING_BEFORE, params)).all()]


_ENDING_TYPES = tuple(t.value for t in ENDING_EVENTS)
_ENDED_AFTER = hot(
    select(alerts.c.event_type)
    .where(
        alerts.c.force_code == bindparam("force_code"),
        alerts.c.episode_ref == bindparam("episode_ref"),
        or_(*(alerts.c.event_type == t for t in _ENDING_TYPES)),
        alerts.c.occurred_at > bindparam("after"),
    )
    .limit(1)
)  # built once, on the driver: asked for every alert about a missing child


async def ended_after(
    session: AsyncSession, force_code: str, episode_ref: str, after: datetime
) -> str | None:
    """The type of an event after ``after`` that ended the episode, if an alert of one
    is held (every event alerts its authority, so one is whenever the router routed it)."""
    params = {"force_code": force_code, "episode_ref": episode_ref, "after": after}
    found = (await session.execute(_ENDED_AFTER, params)).first()
    return str(found[0]) if found is not None else None


async def set_state(
    session: AsyncSession, alert_ids: Sequence[str], state: AlertState, now: datetime
) -> None:
    """``state`` for these alerts and no deadline: nothing more is asked of anyone. An
    alert being sent right now keeps ``sending`` (its outcome is recorded as usual) but
    loses its deadline all the same."""
    if not alert_ids:
        return
    params = {"ids": list(alert_ids), "state": state.value, "now": now}
    await session.execute(_SET_STATE, params)
    await session.execute(_SET_STATE_SENDING, params)


_IDS = alerts.c.alert_id.in_(bindparam("ids", expanding=True))
_SET_STATE = (
    update(alerts)
    .where(_IDS, alerts.c.state != AlertState.SENDING.value)
    .values(state=bindparam("state"), ack_due_at=None, updated_at=bindparam("now"))
)
_SET_STATE_SENDING = (
    update(alerts)
    .where(_IDS, alerts.c.state == AlertState.SENDING.value)
    .values(ack_due_at=None, updated_at=bindparam("now"))
)


async def unsent_follow_ups(session: AsyncSession, parent_ids: Sequence[str]) -> list[Alert]:
    """Escalations of these alerts that have not gone out yet."""
    if not parent_ids:
        return []
    return [
        as_alert(row)
        for row in (
            await session.execute(
                select(alerts).where(
                    alerts.c.parent_alert_id.in_(parent_ids), alerts.c.state.in_(_UNSENT)
                )
            )
        ).all()
    ]


async def episode_alerts(session: AsyncSession, force_code: str, episode_ref: str) -> list[Alert]:
    """Every alert of the episode but its notices, oldest first."""
    return [
        as_alert(row)
        for row in (
            await session.execute(
                select(alerts)
                .where(_of_episode(force_code, episode_ref), alerts.c.kind.not_in(_NOTICES))
                .order_by(alerts.c.created_at, alerts.c.alert_id)
                .with_for_update()
            )
        ).all()
    ]


async def noticed_recipients(
    session: AsyncSession, force_code: str, episode_ref: str, but: str
) -> set[str]:
    """Organisations already sent (or due) a withdrawal notice for the episode, other
    than notice ``but``."""
    rows = await session.execute(
        select(alerts.c.recipient_code).where(
            _of_episode(force_code, episode_ref),
            alerts.c.alert_id != but,
            alerts.c.kind == AlertKind.WITHDRAWN.value,
            alerts.c.state != AlertState.CANCELLED.value,
        )
    )
    return {code for (code,) in rows}


async def withdraw_tasks(
    session: AsyncSession, force_code: str, episode_ref: str, now: datetime
) -> list[RhiTask]:
    """The episode's open RHI tasks become ``withdrawn``; returns them as they were."""
    where = (
        (rhi_tasks.c.force_code == force_code)
        & (rhi_tasks.c.episode_ref == episode_ref)
        & rhi_tasks.c.state.in_(OPEN_TASK_STATES)
    )
    rows = [as_task(row) for row in (await session.execute(select(rhi_tasks).where(where))).all()]
    if rows:
        await session.execute(
            update(rhi_tasks)
            .where(where)
            .values(state=RhiTaskState.WITHDRAWN.value, updated_at=now)
        )
    return rows


async def record_withdrawals(
    session: AsyncSession, force_code: str, episode_ref: str, event_id: str, now: datetime
) -> int:
    """Against each earlier disclosure of the episode, an entry in the disclosure chain
    saying it was withdrawn (the police's reason stays with the episode in the console:
    free text may name other people, and a subject access export shows these)."""
    earlier = (
        await session.execute(
            select(disclosures).where(
                disclosures.c.force_code == force_code,
                disclosures.c.episode_ref == episode_ref,
                disclosures.c.kind != AlertKind.WITHDRAWN.value,
                disclosures.c.event_type != "withdrawn",
            )
        )
    ).all()
    for row in earlier:
        await audit_chain.append(
            session,
            audit_chains,
            disclosures,
            {
                "at": now,
                "alert_id": row.alert_id,
                "kind": "withdrawal",
                "recipient_code": row.recipient_code,
                "recipient_kind": row.recipient_kind,
                "recipient_name": row.recipient_name,
                "recipient_email": row.recipient_email,
                "policy_rule": "withdrawn",
                "reason": f"withdrawn by the police (event {event_id})"[:200],
                "fields": "",
                "child_key": row.child_key,
                "force_code": row.force_code,
                "episode_ref": row.episode_ref,
                "event_type": "withdrawn",
                "smtp_message_id": None,
            },
        )
    return len(earlier)


async def record_answer(
    session: AsyncSession, alert_id: str, answer: str, answered_at: datetime, now: datetime
) -> None:
    """The recipient's latest answer on its alert (each answer is also its own message)."""
    await session.execute(
        update(alerts)
        .where(alerts.c.alert_id == alert_id)
        .values(answer=answer, answered_at=answered_at, updated_at=now)
    )


async def set_about_alerts(
    session: AsyncSession, alert_id: str, about: Sequence[str], now: datetime
) -> None:
    await session.execute(
        update(alerts)
        .where(alerts.c.alert_id == alert_id)
        .values(about_alert_ids=" ".join(about), updated_at=now)
    )


@dataclass(frozen=True)
class Told:
    """An organisation that was sent (or may have been sent) something about the
    episode, and the alerts it was sent."""

    code: str
    kind: str
    name: str
    email: str
    alert_ids: tuple[str, ...]


def told_organisations(rows: Sequence[Alert]) -> list[Told]:
    """Who must be asked to disregard the episode: every organisation an alert of the
    episode went to (or was going to: an alert being sent may arrive). Addressed as its
    own alerts were (an escalation contact's organisation by its own address)."""
    by_code: dict[str, list[Alert]] = {}
    for row in rows:
        if row.sent_at is not None or row.state == AlertState.SENDING.value:
            by_code.setdefault(row.recipient_code, []).append(row)
    told = []
    for code, sent in by_code.items():
        own = [r for r in sent if not r.parent_alert_id] or sent
        first = own[0]
        told.append(
            Told(
                code,
                first.recipient_kind,
                first.recipient_name,
                first.recipient_email,
                tuple(r.alert_id for r in sent),
            )
        )
    return told

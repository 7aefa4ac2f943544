"""Reads and writes of who knows about an episode (services/ingest/episode_status.py),
inside a caller's transaction.

A write is an upsert (``INSERT … ON CONFLICT``): copies of ingest share the topics'
partitions, and for a moment after a rebalance two may handle one alert; an insert that
raced into an IntegrityError would be taken by the runtime for a bad message.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from schemas.episode import EventType
from schemas.episode_status import AcceptedEventV1
from schemas.messages import AlertKind, AlertState, Answer, OrgKind
from services.ingest.episode_status import AlertRecord, AnswerRecord
from services.ingest.tables import alert_answers, episode_alerts, events
from services.runtime import conflicts

# Built once (values as parameters): on every alert-status (and alert-answers) message.
_ALERT = (
    select(episode_alerts)
    .where(episode_alerts.c.alert_id == bindparam("b_alert_id"))
    .with_for_update()
)
_ANSWER = (
    select(alert_answers)
    .where(alert_answers.c.alert_id == bindparam("b_alert_id"))
    .with_for_update()
)


async def alert(session: AsyncSession, alert_id: str) -> AlertRecord | None:
    return await session.run_sync(_alert_on, alert_id)


def _alert_on(session: Session, alert_id: str) -> AlertRecord | None:
    # On the session's synchronous side (``run_sync``): Core's execute, not the ORM's.
    row = session.connection().execute(_ALERT, {"b_alert_id": alert_id}).first()
    return _alert(row) if row else None


async def save_alert(session: AsyncSession, record: AlertRecord) -> None:
    await _upsert(
        session,
        episode_alerts,
        {
            "alert_id": record.alert_id,
            "force_code": record.force_code,
            "episode_ref": record.episode_ref,
            "recipient_code": record.recipient_code,
            "recipient_kind": record.recipient_kind.value,
            "recipient_name": record.recipient_name,
            "kind": record.kind.value,
            "event_type": record.event_type.value if record.event_type else None,
            "state": record.state.value,
            "state_at": record.state_at,
            "first_at": record.first_at,
            "sent_at": record.sent_at,
            "acknowledged_at": record.acknowledged_at,
        },
    )


async def answer(session: AsyncSession, alert_id: str) -> AnswerRecord | None:
    return await session.run_sync(_answer_on, alert_id)


def _answer_on(session: Session, alert_id: str) -> AnswerRecord | None:
    row = session.connection().execute(_ANSWER, {"b_alert_id": alert_id}).first()
    return _answer(row) if row else None


async def save_answer(session: AsyncSession, record: AnswerRecord) -> None:
    await _upsert(
        session,
        alert_answers,
        {
            "alert_id": record.alert_id,
            "force_code": record.force_code,
            "episode_ref": record.episode_ref,
            "recipient_code": record.recipient_code,
            "recipient_kind": record.recipient_kind.value,
            "recipient_name": record.recipient_name,
            "answer": record.answer.value,
            "answered_at": record.answered_at,
        },
    )


async def events_of(
    session: AsyncSession, force_code: str, episode_ref: str
) -> list[AcceptedEventV1]:
    """The episode's events in the log, in accepted order (as a replay sends them)."""
    rows = await session.execute(
        select(events.c.event_id, events.c.type, events.c.accepted_at)
        .where(events.c.force_code == force_code, events.c.episode_ref == episode_ref)
        .order_by(events.c.accepted_at, events.c.message_id)
    )
    return [
        AcceptedEventV1(event_id=r.event_id, type=EventType(r.type), accepted_at=r.accepted_at)
        for r in rows
    ]


async def alerts_of(session: AsyncSession, force_code: str, episode_ref: str) -> list[AlertRecord]:
    rows = await session.execute(
        select(episode_alerts).where(
            episode_alerts.c.force_code == force_code,
            episode_alerts.c.episode_ref == episode_ref,
        )
    )
    return [_alert(row) for row in rows]


async def answers_of(
    session: AsyncSession, force_code: str, episode_ref: str
) -> list[AnswerRecord]:
    rows = await session.execute(
        select(alert_answers).where(
            alert_answers.c.force_code == force_code,
            alert_answers.c.episode_ref == episode_ref,
        )
    )
    return [_answer(row) for row in rows]


def _alert(row: Any) -> AlertRecord:
    return AlertRecord(
        alert_id=row.alert_id,
        force_code=row.force_code,
        episode_ref=row.episode_ref,
        recipient_code=row.recipient_code,
        recipient_kind=OrgKind(row.recipient_kind),
        recipient_name=row.recipient_name,
        kind=AlertKind(row.kind),
        event_type=EventType(row.event_type) if row.event_type else None,
        state=AlertState(row.state),
        state_at=row.state_at,
        first_at=row.first_at,
        sent_at=row.sent_at,
        acknowledged_at=row.acknowledged_at,
    )


def _answer(row: Any) -> AnswerRecord:
    return AnswerRecord(
        alert_id=row.alert_id,
        force_code=row.force_code,
        episode_ref=row.episode_ref,
        recipient_code=row.recipient_code,
        recipient_kind=OrgKind(row.recipient_kind),
        recipient_name=row.recipient_name,
        answer=Answer(row.answer),
        answered_at=row.answered_at,
    )


async def _upsert(session: AsyncSession, table: Table, row: dict[str, Any]) -> None:
    statement = conflicts.upsert(session, table, tuple(row))
    await session.run_sync(lambda sync: sync.connection().execute(statement, row))

"""Reads and writes of who knows about an episode (services/ingest/episode_status.py),
inside a caller's transaction. Alerts are read and written a consumer batch at a time
(services/ingest/handlers.py ``HeldStatuses``): one SELECT of the batch's alerts, one
executemany of those its statuses change (issue 18).

A write is an upsert (``INSERT … ON CONFLICT``): copies of ingest share the topics'
partitions, and for a moment after a rebalance two may handle one alert; an insert that
raced into an IntegrityError would be taken by the runtime for a bad message.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from schemas.episode import EventType
from schemas.episode_status import AcceptedEventV1
from schemas.messages import AlertKind, AlertState, Answer, OrgKind
from services.ingest.episode_status import AlertRecord, AnswerRecord
from services.ingest.tables import alert_answers, episode_alerts, events
from services.runtime import conflicts, on_connection
from services.runtime.prepared import Prepared

# Built once (values as parameters): on every consumer batch of alert-status (and every
# alert-answers message).
_ALERTS = (
    select(episode_alerts)
    .where(episode_alerts.c.alert_id.in_(bindparam("b_alert_ids", expanding=True)))
    .order_by(episode_alerts.c.alert_id)
    .with_for_update()
)
_ANSWER = (
    select(alert_answers)
    .where(alert_answers.c.alert_id == bindparam("b_alert_id"))
    .with_for_update()
)
# The alerts of a batch read in groups of at most this many ids (well under SQLite's
# limit of bound parameters).
_IDS_A_READ = 500
_ALERT_COLUMNS = tuple(c.name for c in episode_alerts.columns)


async def alerts_for_update(
    session: AsyncSession, alert_ids: Collection[str]
) -> dict[str, AlertRecord]:
    """The stored alerts among ``alert_ids``, by id, locked for the transaction."""
    return await on_connection.run(session, _alerts_on, sorted(set(alert_ids)))


def _alerts_on(connection: Connection, alert_ids: list[str]) -> dict[str, AlertRecord]:
    found: dict[str, AlertRecord] = {}
    for start in range(0, len(alert_ids), _IDS_A_READ):
        ids = alert_ids[start : start + _IDS_A_READ]
        for row in connection.execute(_ALERTS, {"b_alert_ids": ids}):
            found[row.alert_id] = _alert(row)
    return found


async def save_alerts(session: AsyncSession, records: Sequence[AlertRecord]) -> None:
    """Each of ``records`` (one per alert) inserted or replacing the stored row, in one
    executemany."""
    if records:
        await on_connection.run(session, _save_alerts_on, [_alert_row(r) for r in records])


def _save_alerts_on(connection: Connection, rows: list[dict[str, Any]]) -> None:
    _alert_upsert(connection.dialect.name).run_many(connection, rows)


@functools.cache
def _alert_upsert(dialect: str) -> Prepared:
    return Prepared(conflicts.upsert_statement(dialect, episode_alerts, _ALERT_COLUMNS))


def _recipient_of(record: AlertRecord | AnswerRecord) -> dict[str, Any]:
    """The columns naming an alert and its recipient, alike in alerts and answers."""
    return {
        "alert_id": record.alert_id,
        "force_code": record.force_code,
        "episode_ref": record.episode_ref,
        "recipient_code": record.recipient_code,
        "recipient_kind": record.recipient_kind.value,
        "recipient_name": record.recipient_name,
    }


def _alert_row(record: AlertRecord) -> dict[str, Any]:
    return {
        **_recipient_of(record),
        "kind": record.kind.value,
        "event_type": record.event_type.value if record.event_type else None,
        "state": record.state.value,
        "state_at": record.state_at,
        "first_at": record.first_at,
        "sent_at": record.sent_at,
        "acknowledged_at": record.acknowledged_at,
    }


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
            **_recipient_of(record),
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

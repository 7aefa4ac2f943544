"""The outcome transaction's writes (issue 18): a group of attempts recorded in a few
statements built once, whatever the group's size.

A sent alert's outcome is four writes: its attempt finished, its disclosure appended to
the audit chain, the alert marked sent (unless it moved on meanwhile), and its
``alert-status``. The first three go for the whole group at once: an executemany, the
chain's three statements (services/runtime/audit_chain.py), and one UPDATE that returns
the alerts it marked; then the ``alert-status`` of each alert marked, in one
executemany. All of it runs on the session's synchronous side in one hand-over
(:func:`record_group`): SQLAlchemy's ``AsyncSession`` otherwise spawns a greenlet for each
statement. A failure is rarer and stays one by one (scheduler.py).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, or_, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.messages import AlertState
from services.notifier.delivery import MESSAGE_ID_DOMAIN, message_id
from services.notifier.model import Alert
from services.notifier.repository.sending import FINISH_ATTEMPT
from services.notifier.tables import alerts, audit_chains, disclosures
from services.runtime import audit_chain
from services.runtime.prepared import Prepared


@dataclass(frozen=True)
class Finished:
    """One attempt's end: its outcome (the alert's next state), and the SMTP reply."""

    alert_id: str
    attempt: int
    outcome: str
    smtp_code: int | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Disclosed:
    """A sent alert and the fields its email disclosed."""

    alert: Alert
    attempt: int
    fields: tuple[str, ...]


_FINISH_ATTEMPT = Prepared(FINISH_ATTEMPT)


def _finish_attempts(connection: Connection, finished: Sequence[Finished], now: datetime) -> None:
    if finished:
        _FINISH_ATTEMPT.run_many(
            connection,
            [
                {
                    "b_alert_id": f.alert_id,
                    "b_attempt": f.attempt,
                    "b_outcome": f.outcome,
                    "b_now": now,
                    "b_code": f.smtp_code,
                    "b_detail": f.detail[:500] if f.detail else None,
                }
                for f in finished
            ],
        )


def disclosure(alert: Alert, fields: Sequence[str], now: datetime) -> dict[str, Any]:
    """The audit entry of a sent alert (tables.disclosures): what it disclosed, to whom,
    when and why."""
    return {
        "at": now,
        "alert_id": alert.alert_id,
        "kind": alert.kind,
        "recipient_code": alert.recipient_code,
        "recipient_kind": alert.recipient_kind,
        "recipient_name": alert.recipient_name[:300],
        "recipient_email": alert.recipient_email[:320],
        "policy_rule": alert.policy_rule[:100],
        "reason": alert.reason[:200],
        "fields": ",".join(fields)[:500],
        # The child is found by episode (tables.child_links, issue 20).
        "child_key": None,
        "force_code": alert.force_code,
        "episode_ref": alert.episode_ref,
        "event_type": alert.event_type,
        "smtp_message_id": message_id(alert.alert_id)[:300],
    }


_NOW = bindparam("b_now", type_=alerts.c.updated_at.type)

# Marks sent an alert whose claim still holds (repository/sending.py, _claim_still_held): the
# attempt number fences a claim another copy took over since. By primary key, one alert
# a statement (a group is about one alert): with the attempt fence alone SQLite took the
# index on state and read every queued alert for each outcome. No IN lists, whose
# parameters SQLAlchemy expands on every execution.
_RECORD_SENT = Prepared(
    update(alerts)
    .where(
        alerts.c.alert_id == bindparam("b_alert_id"),
        alerts.c.attempts == bindparam("b_attempt"),
        or_(
            alerts.c.state == AlertState.SENDING.value,
            alerts.c.state == AlertState.QUEUED.value,
        ),
    )
    .values(
        state=AlertState.SENT.value,
        sent_at=_NOW,
        last_error=None,
        updated_at=_NOW,
        # delivery.message_id, in SQL: the Message-ID derives from the alert id.
        smtp_message_id="<" + alerts.c.alert_id + f"@{MESSAGE_ID_DOMAIN}>",
    )
    .returning(alerts.c.alert_id)
)


def _record_sent(connection: Connection, sent: Sequence[Disclosed], now: datetime) -> set[str]:
    """Disclosures chained and alerts marked sent for a group of sent attempts; the ids
    of the alerts marked (not one that moved on meanwhile: acknowledged, or claimed
    again by another copy). Disclosed whether or not it moved on: the email went."""
    if not sent:
        return set()
    audit_chain.append_many_on(
        connection,
        audit_chains,
        disclosures,
        [disclosure(s.alert, s.fields, now) for s in sent],
    )
    marked: set[str] = set()
    for s in sent:
        params = {"b_alert_id": s.alert.alert_id, "b_attempt": s.attempt, "b_now": now}
        marked.update(row[0] for row in _RECORD_SENT.run(connection, params))
    return marked


@dataclass(frozen=True)
class Group:
    """What one outcome transaction writes: every attempt finished, the sent ones
    disclosed and marked, and for each alert marked sent its ``alert-status`` row
    (``statuses``, by alert id, for ``outbox``)."""

    finished: Sequence[Finished]
    sent: Sequence[Disclosed]
    statuses: dict[str, dict[str, Any]]
    outbox: Table
    now: datetime


def record_group(connection: Connection, group: Group) -> set[str]:
    """The group's writes on a connection's synchronous side (one greenlet for the
    whole transaction's statements, on SQLite and PostgreSQL alike); the ids of the
    alerts marked sent."""
    _finish_attempts(connection, group.finished, group.now)
    marked = _record_sent(connection, group.sent, group.now)
    rows = [row for alert_id, row in group.statuses.items() if alert_id in marked]
    _inserts(group.outbox).run_many(connection, rows)
    return marked


@functools.cache
def _inserts(table: Table) -> Prepared:
    return Prepared(table.insert())


async def record(session: AsyncSession, group: Group) -> set[str]:
    """:func:`record_group` in ``session``'s transaction."""
    return await session.run_sync(lambda sync: record_group(sync.connection(), group))

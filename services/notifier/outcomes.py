"""The outcome transaction's writes (issue 18): a group of attempts recorded in a few
statements built once, whatever the group's size.

A sent alert's outcome is four writes: its attempt finished, its disclosure appended to
the audit chain, the alert marked sent (unless it moved on meanwhile), and its
``alert-status``. The first three go for the whole group at once: an executemany, the
chain's three statements (services/runtime/audit_chain.py), and one UPDATE that returns
the alerts it marked. A failure is rarer and stays one by one (scheduler.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.messages import AlertState
from services.notifier.delivery import MESSAGE_ID_DOMAIN, message_id
from services.notifier.model import Alert
from services.notifier.repository.sending import FINISH_ATTEMPT
from services.notifier.tables import alerts, audit_chains, disclosures
from services.runtime import audit_chain


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


async def finish_attempts(
    session: AsyncSession, finished: Sequence[Finished], now: datetime
) -> None:
    if finished:
        await session.execute(
            FINISH_ATTEMPT,
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

# Marks sent the alerts whose claim still holds (repository/sending.py, _claim_still_held): the
# attempt number fences a claim another copy took over since.
_RECORD_SENT = (
    update(alerts)
    .where(
        tuple_(alerts.c.alert_id, alerts.c.attempts).in_(bindparam("b_claims", expanding=True)),
        alerts.c.state.in_((AlertState.SENDING.value, AlertState.QUEUED.value)),
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


async def record_sent(session: AsyncSession, sent: Sequence[Disclosed], now: datetime) -> set[str]:
    """Disclosures chained and alerts marked sent for a group of sent attempts; the ids
    of the alerts marked (not one that moved on meanwhile: acknowledged, or claimed
    again by another copy). Disclosed whether or not it moved on: the email went."""
    if not sent:
        return set()
    await audit_chain.append_many(
        session,
        audit_chains,
        disclosures,
        [disclosure(s.alert, s.fields, now) for s in sent],
    )
    marked = await session.scalars(
        _RECORD_SENT,
        {"b_claims": [(s.alert.alert_id, s.attempt) for s in sent], "b_now": now},
    )
    return set(marked)

"""A recipient answered an alert (``alert-answers``, issue 17). The answer is kept on the
alert; "the child is with us now" and "information" go to the police at once: to the
event's police contact, else to the force's own address in the directory, never to any
other recipient. "We do not know this child" is the router's to act on (the match goes
back to identity review); the console's acknowledgement of the same answer arrives on
``acknowledgements``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.base import derived_id
from schemas.messages import AlertAnswerV1, AlertKind, AlertState, Answer, OrgKind
from services.notifier.alert_store import AlertStore
from services.notifier.escalation import Contact
from services.notifier.handlers import after_commit
from services.notifier.model import Alert, raised_alert
from services.notifier.sql_alert_store import SqlAlertStore
from services.notifier.statuses import publish_alert_status
from services.runtime.database import utcnow
from services.runtime.handling import Outbox, Publisher, UnprocessableError

log = logging.getLogger(__name__)

# Answers the police must hear of.
FOR_THE_POLICE = frozenset({Answer.HERE_NOW, Answer.INFORMATION})


def answer_id(message: AlertAnswerV1) -> str:
    """The alert that carries one answer to the police: one per answer message."""
    return derived_id(message.message_id, AlertKind.ANSWER.value)


async def on_alert_answer(
    session: AsyncSession,
    message: AlertAnswerV1,
    out: Outbox,
    *,
    now: Callable[[], datetime] = utcnow,
    wake: Callable[[], None] | None = None,
) -> None:
    """:func:`record_answer` in the consumer's transaction; ``wake`` (the scheduler)
    once it has committed an alert to the police."""
    if await record_answer(SqlAlertStore(session), message, out, now=now) and wake is not None:
        after_commit(session, wake)


async def record_answer(
    store: AlertStore,
    message: AlertAnswerV1,
    out: Publisher,
    *,
    now: Callable[[], datetime] = utcnow,
) -> bool:
    """Keep the answer on its alert and queue the police's alert when they must hear
    of it; True when one was queued."""
    alert = await store.get_alert(message.alert_id)
    if alert is None:
        raise UnprocessableError(f"answer for unknown alert {message.alert_id}")
    at = now()
    await store.record_answer(alert.alert_id, message.answer.value, message.answered_at, at)
    if message.answer not in FOR_THE_POLICE:
        log.info("notifier: alert %s answered %s", alert.alert_id, message.answer.value)
        return False
    police = _police(alert, message.answer)
    if police is None:
        return False
    raised = answer_id(message)
    answer = raised_alert(
        raised,
        AlertKind.ANSWER,
        police,
        OrgKind.POLICE_FORCE,
        alert,
        f"answer from {alert.recipient_name}"[:200],
        f"answer.{message.answer.value}",
        at,
        # Not the answered alert's id: acknowledging that alert cancels what is queued
        # about it, and this must go. One answer, one thread of its own.
        parent_alert_id=f"answer:{message.message_id}",
        about_recipient_name=alert.recipient_name,
        answer=message.answer.value,
        answer_information=message.information,
        answered_at=message.answered_at,
    )
    if not await store.insert_raised(answer):
        return False
    await publish_alert_status(out, answer, AlertState.QUEUED, at)
    log.info(
        "notifier: alert %s answered %s; police told by alert %s",
        alert.alert_id,
        message.answer.value,
        raised,
    )
    return True


def _police(alert: Alert, answer: Answer) -> Contact | None:
    """Who hears the answer: the event's police contact, else the force's own address;
    None (said loudly) when there is neither."""
    email = alert.police_contact_email or alert.police_force_email
    if not email:
        # Still in the console and on the police's status endpoint; said loudly here.
        log.warning(
            "notifier: alert %s answered %s but the event named no police contact email and "
            "the directory has no police-force %s: add it (relay directory import organisations)",
            alert.alert_id,
            answer.value,
            alert.force_code,
        )
        return None
    name = (
        alert.police_contact_name
        if alert.police_contact_email and alert.police_contact_name
        else f"Police force {alert.force_code}"
    )
    return Contact(alert.force_code, name, email)

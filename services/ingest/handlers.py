"""Consumers: events a police system publishes straight to ``police-events-raw.v1``, and
what became of their alerts (``alert-status.v1``, ``alert-answers.v1``), for the police
to see who knows."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.catalogue import EPISODE_EVENTS
from schemas.messages import AlertAnswerV1, AlertStatusV1
from services.ingest import episode_status, repository, status_repository
from services.ingest.acceptance import Invalid, Valid, accepted_event, decide, parse_json
from services.ingest.intake import record_reject
from services.runtime.database import utcnow
from services.runtime.handling import Outbox, RawMessage


async def on_police_event(session: AsyncSession, message: RawMessage, out: Outbox) -> None:
    raw = message.body.decode(errors="replace")
    data, parse_errors = parse_json(message.body)
    decision = Invalid(parse_errors, None, None) if parse_errors else decide(data, None)
    if isinstance(decision, Invalid):
        await record_reject(
            session,
            out,
            channel="kafka",
            source="kafka",
            force_code=decision.force_code,
            event_id=decision.event_id,
            errors=decision.errors,
            raw=raw,
        )
        return
    assert isinstance(decision, Valid)  # no key, so never Forbidden
    submission = decision.submission
    if await repository.is_seen(session, submission.force_code, submission.event_id):
        return
    # Inside the consumer's transaction, so the outbox is enough: the offset is committed
    # only after the log row and the outbox row are.
    event = accepted_event(submission, "kafka", utcnow())
    await repository.add_event(session, event)
    await out.publish(EPISODE_EVENTS, event.episode_key, event)


async def on_alert_status(session: AsyncSession, message: AlertStatusV1, out: Outbox) -> None:
    current = await status_repository.alert(session, message.alert_id)
    updated = episode_status.record_status(current, message)
    if updated != current:
        await status_repository.save_alert(session, updated)


async def on_alert_answer(session: AsyncSession, message: AlertAnswerV1, out: Outbox) -> None:
    current = await status_repository.answer(session, message.alert_id)
    updated = episode_status.record_answer(current, message)
    if updated is not None and updated != current:
        await status_repository.save_answer(session, updated)

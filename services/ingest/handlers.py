"""Consumers: events a police system publishes straight to ``police-events-raw.v1``."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.base import derived_id
from schemas.catalogue import EPISODE_EVENTS, POLICE_EVENTS_RAW
from services.ingest import repository
from services.ingest.acceptance import Invalid, Valid, accepted_event, decide, parse_json
from services.ingest.intake import record_reject
from services.runtime.consumer import Outbox
from services.runtime.database import utcnow


class RawPoliceEvent:
    """The raw body of a ``police-events-raw`` message, validated by the handler rather
    than by the runtime: an invalid event must become a reject the police can see, not a
    dead letter. The message id is the body's digest, so a redelivery of the same bytes
    is skipped by the inbox (and cannot make a second reject)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.message_id = derived_id("police-events-raw", hashlib.sha256(body).hexdigest())

    @classmethod
    def model_validate_json(cls, body: bytes | str) -> RawPoliceEvent:
        return cls(body.encode() if isinstance(body, str) else body)


RAW_POLICE_EVENTS = replace(POLICE_EVENTS_RAW, model=RawPoliceEvent)  # type: ignore[arg-type]


async def on_police_event(session: AsyncSession, message: RawPoliceEvent, out: Outbox) -> None:
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

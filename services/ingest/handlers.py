"""Consumers: events a police system publishes straight to ``police-events-raw.v1``, and
what became of their alerts (``alert-status.v1``, ``alert-answers.v1``), for the police
to see who knows. Each consumer's handler runs its use case over the
:class:`~services.ingest.ingest_store.IngestStore` of the consumer's transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.catalogue import EPISODE_EVENTS
from schemas.messages import AlertAnswerV1, AlertStatusV1
from services.ingest import episode_status
from services.ingest.acceptance import Invalid, Valid, accepted_event, decide, parse_json
from services.ingest.ingest_store import IngestStore
from services.ingest.intake import record_reject
from services.ingest.sql_ingest_store import SqlIngestStore
from services.runtime.database import utcnow
from services.runtime.deferred_writes import deferred
from services.runtime.hand_over import in_one_hand_over
from services.runtime.handling import Outbox, Publisher, RawMessage


async def on_police_event(session: AsyncSession, message: RawMessage, out: Outbox) -> None:
    await accept_police_event(SqlIngestStore(session), message, out)


async def accept_police_event(
    store: IngestStore,
    message: RawMessage,
    out: Publisher,
    clock: Callable[[], datetime] = utcnow,
) -> bool:
    """Accept the event (publish it to ``episode-events``) or keep it as a reject; True
    when it was accepted now (not invalid, not seen before)."""
    raw = message.body.decode(errors="replace")
    data, parse_errors = parse_json(message.body)
    decision = Invalid(parse_errors, None, None) if parse_errors else decide(data, None)
    if isinstance(decision, Invalid):
        await record_reject(
            store,
            out,
            channel="kafka",
            source="kafka",
            force_code=decision.force_code,
            event_id=decision.event_id,
            errors=decision.errors,
            raw=raw,
        )
        return False
    assert isinstance(decision, Valid)  # no key, so never Forbidden
    submission = decision.submission
    if await store.is_seen(submission.force_code, submission.event_id):
        return False
    # Inside the consumer's transaction, so the outbox is enough: the offset is committed
    # only after the log row and the outbox row are.
    event = accepted_event(submission, "kafka", clock())
    await store.add_event(event)
    await out.publish(EPISODE_EVENTS, event.episode_key, event)
    return True


async def on_alert_status(session: AsyncSession, message: AlertStatusV1, out: Outbox) -> None:
    # Held to the end of the transaction, for the whole consumer batch at once.
    deferred(session, HeldStatuses).statuses.append(message)


@dataclass
class HeldStatuses:
    """The ``alert-status`` messages of one transaction (a consumer batch), taken in at
    its commit (services/runtime/deferred_writes.py): one read of their alerts and one
    executemany of those they change, in one hand-over to the session's synchronous side,
    where one message at a time was a read and an upsert each (issue 18). Nothing else
    in ingest's consumer transactions reads or writes these alerts, and the statuses are
    taken in in the order they came, so the rows are the ones one at a time would leave."""

    statuses: list[AlertStatusV1] = field(default_factory=list)

    async def flush(self, session: AsyncSession) -> None:
        statuses, self.statuses = self.statuses, []
        if statuses:
            await in_one_hand_over(
                session, lambda core: take_alert_statuses(SqlIngestStore(core), statuses)
            )


async def take_alert_status(store: IngestStore, message: AlertStatusV1) -> None:
    await take_alert_statuses(store, [message])


async def take_alert_statuses(store: IngestStore, messages: Sequence[AlertStatusV1]) -> None:
    """Fold ``messages``, in order, into their alerts; keep those that change."""
    current = await store.stored_alerts({m.alert_id for m in messages})
    changed = episode_status.record_statuses(current, messages)
    if changed:
        await store.save_alerts(changed)


async def on_alert_answer(session: AsyncSession, message: AlertAnswerV1, out: Outbox) -> None:
    await take_alert_answer(SqlIngestStore(session), message)


async def take_alert_answer(store: IngestStore, message: AlertAnswerV1) -> None:
    current = await store.answer(message.alert_id)
    updated = episode_status.record_answer(current, message)
    if updated is not None and updated != current:
        await store.save_answer(updated)

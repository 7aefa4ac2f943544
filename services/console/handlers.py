"""Thin handlers: one message in, its projection (services/console/projecting.py)
written to the read model.

The console only reads these streams, so no handler publishes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DataError
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.catalogue import (
    ALERT_STATUS,
    ALERTS_REQUESTED,
    CHILD_IDENTITIES,
    EPISODE_EVENTS,
    IDENTITY_DECISIONS,
    IDENTITY_REVIEWS,
    INGEST_REJECTED,
    RHI_TASK_OUTCOMES_V2,
    RHI_TASK_STATUS,
    RHI_TASKS_REQUESTED,
    TOPICS,
    Topic,
)
from schemas.child_identity import ChildIdentityV1
from schemas.episode import EpisodeEventV1
from schemas.messages import (
    AlertRequestedV1,
    AlertStatusV1,
    DeadLetterV1,
    IdentityDecisionV1,
    IdentityReviewV1,
    IngestRejectedV1,
    RhiTaskRequestedV1,
    RhiTaskStatusV1,
)
from schemas.rhi_record import RhiTaskOutcomeV2
from services.console import projecting
from services.console.sql_projection_store import SqlConsoleProjection
from services.runtime.database import utcnow
from services.runtime.deferred_writes import flush_deferred
from services.runtime.handling import Handler, Outbox, UnprocessableError


def _model(session: AsyncSession) -> SqlConsoleProjection:
    return SqlConsoleProjection(session)


async def on_episode_event(session: AsyncSession, message: EpisodeEventV1, out: Outbox) -> None:
    await projecting.episode_event(_model(session), message)


async def on_alert_requested(session: AsyncSession, message: AlertRequestedV1, out: Outbox) -> None:
    await projecting.alert_requested(_model(session), message, utcnow())


async def on_alert_status(session: AsyncSession, message: AlertStatusV1, out: Outbox) -> None:
    await projecting.alert_status(_model(session), message)


async def on_rhi_task_requested(
    session: AsyncSession, message: RhiTaskRequestedV1, out: Outbox
) -> None:
    await projecting.rhi_task_requested(_model(session), message, utcnow())


async def on_rhi_task_status(session: AsyncSession, message: RhiTaskStatusV1, out: Outbox) -> None:
    await projecting.rhi_task_status(_model(session), message)


async def on_rhi_task_outcome(
    session: AsyncSession, message: RhiTaskOutcomeV2, out: Outbox
) -> None:
    await projecting.rhi_task_outcome(_model(session), message)


async def on_identity_review(session: AsyncSession, message: IdentityReviewV1, out: Outbox) -> None:
    await projecting.identity_review(_model(session), message)


async def on_child_identity(session: AsyncSession, message: ChildIdentityV1, out: Outbox) -> None:
    await projecting.child_identity(_model(session), message)


async def on_identity_decision(
    session: AsyncSession, message: IdentityDecisionV1, out: Outbox
) -> None:
    await projecting.identity_decision(_model(session), message)


async def on_ingest_rejected(session: AsyncSession, message: IngestRejectedV1, out: Outbox) -> None:
    await projecting.ingest_rejected(_model(session), message)


@dataclass(frozen=True)
class DeadLetterTopic(Topic):
    """The ``.dlq`` twin of a catalogue topic, as a topic the console subscribes to.

    A dead letter that itself cannot be parsed is wrapped again and published to the
    same ``.dlq`` (not to a ``.dlq.dlq`` that nobody creates), where it now parses and
    is shown like any other."""

    source: Topic | None = None

    @property
    def wire(self) -> str:
        assert self.source is not None
        return self.source.dlq

    @property
    def dlq(self) -> str:
        return self.wire


def dead_letter_topic(topic: Topic) -> DeadLetterTopic:
    return DeadLetterTopic(
        name=f"{topic.name}-dead-letters",
        version=topic.version,
        model=DeadLetterV1,
        producers=topic.consumers,
        consumers=("console",),
        key=topic.key,
        description=f"Messages of {topic.wire} that a consumer could not process.",
        source=topic,
    )


DEAD_LETTER_TOPICS: tuple[DeadLetterTopic, ...] = tuple(dead_letter_topic(t) for t in TOPICS)


def on_dead_letter(topic: DeadLetterTopic) -> Handler:
    async def handle(session: AsyncSession, message: DeadLetterV1, out: Outbox) -> None:
        await projecting.dead_letter(_model(session), message, topic.wire)

    handle.__name__ = f"on_dead_letter_{topic.wire}"
    return handle


def refusing_bad_data(handler: Handler) -> Handler:
    """A value the database refuses (too long, out of range) will be refused every time:
    dead-letter the message rather than retry it for ever."""

    async def handle(session: AsyncSession, message: Any, out: Outbox) -> None:
        try:
            await handler(session, message, out)
        except DataError as exc:
            raise UnprocessableError(
                f"console read model refused a value: {type(exc.orig).__name__}"
            ) from exc

    handle.__name__ = getattr(handler, "__name__", "handle")
    return handle


def after_deferred_writes(handler: Handler) -> Handler:
    """Write what the batch's alert handlers deferred before ``handler`` runs: it may
    read or change the same rows (alert_projection.py)."""

    async def handle(session: AsyncSession, message: Any, out: Outbox) -> None:
        await flush_deferred(session)
        await handler(session, message, out)

    handle.__name__ = getattr(handler, "__name__", "handle")
    return handle


# Handlers whose writes are deferred too or commute with the deferred rows: an episode's
# summary leaves the alert's columns of its episode row alone, and its child comes out
# the same (the router's link, else the alert's child) whichever is written first; an
# RHI task's episode writes are deferred with the alerts' (in their order), its task row
# is in a table no buffer holds.
_COMMUTING: frozenset[Handler] = frozenset(
    {
        on_alert_requested,
        on_alert_status,
        on_episode_event,
        on_child_identity,
        on_rhi_task_requested,
    }
)


def subscriptions() -> list[tuple[Topic, Handler]]:
    """Every topic the console reads, with its handler."""
    return [
        (
            topic,
            refusing_bad_data(handler if handler in _COMMUTING else after_deferred_writes(handler)),
        )
        for topic, handler in _subscriptions()
    ]


def _subscriptions() -> list[tuple[Topic, Any]]:
    return [
        (EPISODE_EVENTS, on_episode_event),
        (ALERTS_REQUESTED, on_alert_requested),
        (ALERT_STATUS, on_alert_status),
        (RHI_TASKS_REQUESTED, on_rhi_task_requested),
        (RHI_TASK_STATUS, on_rhi_task_status),
        (RHI_TASK_OUTCOMES_V2, on_rhi_task_outcome),
        (IDENTITY_REVIEWS, on_identity_review),
        (IDENTITY_DECISIONS, on_identity_decision),
        (CHILD_IDENTITIES, on_child_identity),
        (INGEST_REJECTED, on_ingest_rejected),
        *((topic, on_dead_letter(topic)) for topic in DEAD_LETTER_TOPICS),
    ]

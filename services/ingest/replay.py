"""Republish the accepted-event log to ``episode-events`` (DESIGN §2): ``relay replay``,
and at start when ``replay_on_start`` refills a fresh memory-only broker."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from faststream.kafka import KafkaBroker

from schemas.catalogue import EPISODE_EVENTS
from services.ingest import repository
from services.ingest.publishing import BrokerUnavailableError, DirectPublisher, Outgoing
from services.runtime.database import Database
from services.runtime.settings import RelaySettings

log = logging.getLogger(__name__)

CHUNK = 500


async def replay(
    db: Database,
    broker: KafkaBroker,
    settings: RelaySettings,
    since: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    ack_timeout_s: float = 30.0,
) -> int:
    """Republish every logged event accepted at or after ``since`` (all when None), in
    accepted order, awaiting the broker's acks chunk by chunk. Returns how many. Consumers
    de-duplicate on message id, so replaying what they already have changes nothing.
    Raises :class:`BrokerUnavailableError` if the broker refuses any of them."""
    publisher = DirectPublisher(broker, ack_timeout_s)
    topic = settings.topic(EPISODE_EVENTS.wire)
    chunk: list[Outgoing] = []
    total = 0

    async def flush() -> None:
        nonlocal total
        errors = [e for e in await publisher.send_all(chunk) if e is not None]
        if errors:
            raise BrokerUnavailableError(
                f"{len(errors)} of {len(chunk)} events were not acknowledged: {errors[0]}"
            )
        total += len(chunk)
        if progress:
            progress(len(chunk))
        chunk.clear()

    async for key, message_id, payload in repository.events_since(db, since, CHUNK):
        chunk.append(Outgoing(topic, key, message_id, payload.encode()))
        if len(chunk) >= CHUNK:
            await flush()
    if chunk:
        await flush()
    log.info("ingest: replayed %d accepted events to %s", total, topic)
    return total

"""Idempotent consumers (DESIGN §2) on FastStream subscribers.

``subscribe`` registers a handler ``(session, message, out) -> None`` for one catalogue
topic (the contract is in :mod:`services.runtime.handling`). The subscriber takes what
the broker has, up to ``RELAY_CONSUMER_BATCH`` records, and handles the batch in one
transaction: parse each record; skip the message ids already in the inbox (or repeated
in the batch); run each handler in order; record the others in the inbox; commit. On
SQLite, when an urgent transaction (the notifier's delivery loop) waits for the writer,
the transaction commits after the message in hand and the batch goes on in another.
Only once the whole batch is committed does FastStream commit the offsets (``AckPolicy``
``NACK_ON_ERROR``: a failure seeks every partition of the batch back, and it comes
again). A message that can never be processed (it does not parse, the handler raises
``UnprocessableError``, or the database refuses its values) goes to the topic's ``.dlq``
with the reason.

Only the happy path is batched: when the batch's transaction fails for any reason it is
rolled back and its messages not yet committed are handled again one per transaction
(``consume``), which sorts a message to dead-letter from the others, or a transient
failure to retry; the inbox skips what a transaction before the failure committed.

All of a service's topics share one FastStream subscriber (one consumer, one group join):
subscribers start one after another, each waiting seconds for its group, so one per
topic made a service with many topics slow to start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from pydantic import ValidationError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from schemas.catalogue import Topic
from services.runtime.database import Database
from services.runtime.dead_letters import dead_letter_for, validation_summary
from services.runtime.handling import Handler, Outbox, RawMessage, UnprocessableError
from services.runtime.messaging import (
    MessagingTables,
    OutboxRelay,
    first_delivery,
    in_inbox,
    record_deliveries,
    unseen_deliveries,
)
from services.runtime.settings import RelaySettings

log = logging.getLogger(__name__)

# How long a batch waits for the broker when nothing is buffered: records that are
# there come at once, so this only bounds an idle consumer's extra latency.
BATCH_WAIT_MS = 100


@dataclass(frozen=True)
class Delivery:
    """One parsed message and where it came from."""

    topic: Topic
    handler: Handler
    body: bytes
    msg: Any  # FastStream's message or aiokafka's record: its position for a dead letter
    message: Any

    @property
    def message_id(self) -> str:
        return str(getattr(self.message, "message_id", "") or "")


@dataclass
class ConsumerCounters:
    processed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retried: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)


@dataclass
class Consumers:
    """The subscribers of one service, with shared wiring and counters."""

    service: str
    broker: KafkaBroker
    db: Database
    tables: MessagingTables
    relay: OutboxRelay
    settings: RelaySettings
    counters: ConsumerCounters = field(default_factory=ConsumerCounters)
    retry_delay_s: float = 1.0
    routes: dict[str, tuple[Topic, Handler, bool]] = field(default_factory=dict)
    attached: bool = False
    # How much the broker gathers before it answers a fetch: by default it answers as
    # soon as one record is there. A service off the alerts' path (the console) may wait
    # for more (:meth:`gather_fetches`).
    fetch_min_bytes: int = 1
    fetch_max_wait_ms: int = 500

    @property
    def group_id(self) -> str:
        return f"{self.settings.topic_prefix}relay-{self.service}"

    def subscribe(self, topic: Topic, handler: Handler, raw: bool = False) -> None:
        """Handle ``topic`` with ``handler``; call before the runtime starts. With ``raw``
        the handler gets a :class:`RawMessage` and does its own validation (ingest turns
        bad police input into rejects the police can see, not dead letters)."""
        self.routes[self.settings.topic(topic.wire)] = (topic, handler, raw)

    def gather_fetches(self, min_bytes: int, max_wait_ms: int) -> None:
        """Let the broker hold each fetch until ``min_bytes`` are there or ``max_wait_ms``
        passed (call before the runtime starts): fewer, larger fetches and batches while
        messages stream in, each record at most ``max_wait_ms`` later (issue 18)."""
        self.fetch_min_bytes, self.fetch_max_wait_ms = min_bytes, max_wait_ms

    def attach(self) -> None:
        """Register the one subscriber for every subscribed topic (at start)."""
        if not self.routes or self.attached:
            return

        @self.broker.subscriber(
            *self.routes,
            group_id=self.group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            batch=True,
            max_records=self.settings.consumer_batch,
            batch_timeout_ms=BATCH_WAIT_MS,
            max_poll_interval_ms=600_000,
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=self.settings.kafka_heartbeat_interval_ms,
            fetch_min_bytes=self.fetch_min_bytes,
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            decoder=batch_records,
            title=f"{self.service}:consumer",
        )
        async def _consume(records: tuple[Any, ...]) -> None:
            await self.consume_batch(records)

        self.attached = True

    async def consume_batch(self, records: Sequence[Any]) -> None:
        """Handle a batch of aiokafka ``ConsumerRecord`` objects, in their order."""
        deliveries: list[Delivery] = []
        for record in records:
            topic, handler, raw = self.routes[record.topic]
            body = record.value or b""
            message = await self._parse(topic, body, record, raw)
            if message is not None:
                deliveries.append(Delivery(topic, handler, body, record, message))
        if not deliveries:
            return
        committed: list[bool] = []  # freshness of the deliveries committed so far
        try:
            await self._handle_together(deliveries, committed)
        except Exception as exc:
            # Rolled back: one per transaction now, so that one bad message is told from
            # the others and a transient failure is retried as ever.
            log.info(
                "%s: batch of %d not handled together (%s); one by one",
                self.service,
                len(deliveries) - len(committed),
                type(exc).__name__,
            )
            for delivery in deliveries[len(committed) :]:
                await self._handle(delivery)

    async def _handle_together(self, deliveries: Sequence[Delivery], committed: list[bool]) -> None:
        """Handle ``deliveries`` in as few transactions as they need, adding each one's
        freshness to ``committed`` (and to the counters) as its transaction commits. A
        transaction ends after the message in hand when an urgent one waits for SQLite's
        writer (the notifier's delivery loop), so a batch never holds the sending back.
        The inbox is looked up once, in the first transaction: what it found holds for
        the batch's later ones (a copy that commits one of the ids meanwhile makes the
        inbox insert fail, and the rest goes one by one, looked up again)."""
        start = len(committed)
        all_ids = [(d.message_id, d.topic.wire) for d in deliveries[start:]]
        unseen: list[bool] | None = None
        while len(committed) < len(deliveries):
            done = len(committed) - start
            rest = deliveries[len(committed) :]
            ids = all_ids[done:]
            async with self.db.transaction() as session:
                if unseen is None:
                    unseen = await unseen_deliveries(session, self.tables, all_ids)
                fresh = unseen[done:]
                out = Outbox(session, self.tables, self.settings)
                handled = 0
                for delivery, new in zip(rest, fresh, strict=True):
                    if new:
                        await delivery.handler(session, delivery.message, out)
                    handled += 1
                    if self.db.urgent_waiting:
                        break
                await record_deliveries(session, self.tables, ids[:handled], fresh)
            committed.extend(fresh[:handled])
            for delivery, new in zip(rest[:handled], fresh, strict=False):
                if new:
                    self._count(delivery.topic)
                else:
                    self.counters.duplicates += 1
            if any(fresh[:handled]):
                self.relay.wake()

    async def consume(
        self, topic: Topic, handler: Handler, body: bytes, msg: Any, raw: bool = False
    ) -> None:
        """Handle one message in a transaction of its own."""
        message = await self._parse(topic, body, msg, raw)
        if message is not None:
            await self._handle(Delivery(topic, handler, body, msg, message))

    async def _parse(self, topic: Topic, body: bytes, msg: Any, raw: bool) -> Any:
        """The message, or None when it does not parse (it is dead-lettered)."""
        try:
            return RawMessage(body) if raw else topic.model.model_validate_json(body)
        except ValidationError as exc:
            await self.dead_letter(
                topic,
                body,
                msg,
                f"does not match {topic.model.__name__}: "
                f"{exc.error_count()} error(s): {validation_summary(exc)}",
            )
            return None

    async def _handle(self, delivery: Delivery) -> None:
        topic, body, msg = delivery.topic, delivery.body, delivery.msg
        message_id = delivery.message_id
        try:
            async with self.db.transaction() as session:
                if message_id and not await first_delivery(
                    session, self.tables, message_id, topic.wire
                ):
                    self.counters.duplicates += 1
                    return
                await delivery.handler(
                    session, delivery.message, Outbox(session, self.tables, self.settings)
                )
        except UnprocessableError as exc:
            await self.dead_letter(topic, body, msg, str(exc))
            return
        except IntegrityError as exc:
            if message_id and await self._in_inbox(message_id, topic):
                # Another copy of this consumer committed the same message id first.
                self.counters.duplicates += 1
                log.info("%s: %s already handled elsewhere", self.service, message_id)
                return
            await self.dead_letter(
                topic, body, msg, f"refused by the database: {type(exc.orig).__name__}"
            )
            return
        except DataError as exc:
            await self.dead_letter(
                topic, body, msg, f"refused by the database: {type(exc.orig).__name__}"
            )
            return
        except Exception as exc:
            if _data_exception(exc):
                # E.g. a NUL in a text, which PostgreSQL never stores: no retry can help.
                await self.dead_letter(
                    topic, body, msg, f"refused by the database: SQLSTATE {_sqlstate(exc)}"
                )
                return
            # Transient (database away, broker hiccup): roll back, wait, let it come again.
            self.counters.retried += 1
            log.warning(
                "%s: %s on %s, will retry: %s",
                self.service,
                type(exc).__name__,
                topic.wire,
                _first_line(exc),
            )
            await asyncio.sleep(self.retry_delay_s)
            raise
        self._count(topic)
        self.relay.wake()

    def _count(self, topic: Topic) -> None:
        self.counters.processed += 1
        self.counters.by_topic[topic.wire] = self.counters.by_topic.get(topic.wire, 0) + 1

    async def _in_inbox(self, message_id: str, topic: Topic) -> bool:
        async with self.db.transaction() as session:
            return await in_inbox(session, self.tables, message_id, topic.wire)

    async def dead_letter(self, topic: Topic, body: bytes, msg: Any, reason: str) -> None:
        """``msg``: FastStream's message, or the aiokafka record itself (in a batch)."""
        letter = dead_letter_for(self.service, topic, body, msg, reason)
        await self.broker.publish(
            letter.model_dump_json().encode(),
            topic=self.settings.topic(topic.dlq),
            key=letter.key.encode() if letter.key else None,
            headers={"message_id": letter.message_id, "content-type": "application/json"},
        )
        self.counters.dead_lettered += 1
        log.error(
            "%s: dead-lettered %s partition %s offset %s: %s",
            self.service,
            topic.wire,
            letter.partition,
            letter.offset,
            reason[:200],
        )


async def batch_records(msg: Any) -> tuple[Any, ...]:
    """The subscriber's decoder: the batch's aiokafka records as they came (issue 18).
    FastStream's own made a message object of every record and ``json.loads`` its body,
    which :meth:`Consumers.consume_batch` never read (it validates each body against its
    topic's model), about a sixth of the console's CPU in the pipeline. With the broker's
    ``apply_types`` off (services/runtime/kafka.py) the handler gets this tuple as it is."""
    records = msg.raw_message  # a batch subscriber's: a tuple of records
    return records if isinstance(records, tuple) else (records,)


def _sqlstate(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")


def _data_exception(exc: BaseException) -> bool:
    """The database refused the data itself (SQLSTATE class 22: a NUL, a bad encoding,
    a value out of range), which drivers do not always report as a ``DataError``."""
    return isinstance(exc, DBAPIError) and _sqlstate(exc).startswith("22")


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:200]

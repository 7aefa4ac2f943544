"""Noticing that the broker lost its data, and republishing (DESIGN §2, §3).

The embedded broker keeps everything in memory: if it restarts, every topic and committed
offset is gone, and messages published but not yet consumed with them. Apache Kafka keeps
them, so there this never fires. The first service to start writes an *epoch* marker (an
id and the time it began) to a one-partition topic; every service checks now and then
that the marker is still there. When it has gone, the service writes a new one and
republishes what it published since the lost epoch began: its outbox, and for ingest the
accepted-event log. Consumers de-duplicate on message id, so whatever had been handled
before the loss is not handled again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from services.runtime.database import utcnow
from services.runtime.kafka import ensure_topic, ensure_topics, security_options
from services.runtime.settings import RelaySettings

log = logging.getLogger(__name__)

EPOCH_TOPIC = "relay-epoch.v1"
# Clocks of services on different machines differ a little: republish a little more.
CLOCK_MARGIN = timedelta(minutes=5)

Republish = Callable[[datetime], Awaitable[int]]


@dataclass(frozen=True)
class Epoch:
    id: str
    began_at: datetime


class BrokerWatch:
    def __init__(
        self,
        service: str,
        settings: RelaySettings,
        republish: list[Republish],
        interval_s: float | None = None,
    ) -> None:
        self.service = service
        self.settings = settings
        self.republish = republish
        self.interval_s = interval_s or settings.broker_check_interval_s
        self.epoch: Epoch | None = None
        self.losses = 0

    @property
    def _topic(self) -> str:
        return self.settings.topic(EPOCH_TOPIC)

    async def current(self) -> Epoch | None:
        """The broker's epoch; None when the marker is not there."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            client_id=f"relay-{self.service}-epoch",
            request_timeout_ms=10_000,
            **security_options(self.settings),
        )
        await consumer.start()
        try:
            if self._topic not in await consumer.topics():
                return None
            partition = TopicPartition(self._topic, 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            if (await consumer.end_offsets([partition]))[partition] == 0:
                return None
            record = await asyncio.wait_for(consumer.getone(partition), timeout=10)
            data = json.loads(record.value)
            return Epoch(data["id"], datetime.fromisoformat(data["began_at"]))
        finally:
            await consumer.stop()

    async def establish(self) -> Epoch:
        """The broker's epoch, written first if there is none (the first marker on the
        topic wins when two services race)."""
        found = await self.current()
        if found is not None:
            return found
        await ensure_topic(self.settings, self._topic)
        producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.bootstrap,
            enable_idempotence=False,
            acks="all",
            client_id=f"relay-{self.service}-epoch",
            **security_options(self.settings),
        )
        await producer.start()
        try:
            marker = {"id": uuid.uuid4().hex, "began_at": utcnow().isoformat()}
            await producer.send_and_wait(self._topic, json.dumps(marker).encode(), partition=0)
        finally:
            await producer.stop()
        found = await self.current()
        if found is None:
            raise RuntimeError("the broker did not keep the epoch marker just written")
        return found

    async def check(self) -> int:
        """One check; returns how many messages were republished (0: nothing lost)."""
        if self.epoch is None:
            self.epoch = await self.establish()
            return 0
        now = await self.current()
        if now is not None and now.id == self.epoch.id:
            return 0
        lost = self.epoch
        await ensure_topics(self.settings, timeout_s=30)
        fresh = await self.establish()
        since = lost.began_at - CLOCK_MARGIN
        total = 0
        for republish in self.republish:
            total += await republish(since)
        # Only now: if republishing failed, the next check finds the loss again.
        self.epoch, self.losses = fresh, self.losses + 1
        log.warning(
            "%s: the broker lost its data (epoch %s gone, now %s); republished %d "
            "message(s) published since %s",
            self.service,
            lost.id,
            fresh.id,
            total,
            since.isoformat(timespec="seconds"),
        )
        return total

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except (KafkaError, OSError, TimeoutError) as exc:
                # The broker is away: nothing to decide until it answers again.
                log.info("%s: broker check: %s", self.service, type(exc).__name__)
            except Exception as exc:  # e.g. republishing refused: the next check retries
                log.warning("%s: broker check failed: %s", self.service, type(exc).__name__)
            await asyncio.sleep(self.interval_s)

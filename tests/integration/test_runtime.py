"""The inbox/outbox consumer on the real broker and database: a message handled once,
redelivery absorbed, what the handler publishes arrives after the commit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer
from sqlalchemy import Column, MetaData, String, Table, func, select

from schemas.catalogue import ALERT_STATUS, EPISODE_EVENTS
from schemas.messages import AlertKind, AlertState, AlertStatusV1, OrgKind
from services.runtime.service import ServiceRuntime
from services.runtime.settings import RelaySettings
from tests.conftest import eventually

metadata = MetaData()
seen = Table("probe_seen", metadata, Column("id", String(64), primary_key=True))


def status(message_id: str) -> AlertStatusV1:
    return AlertStatusV1(
        message_id=message_id,
        alert_id="a1",
        state=AlertState.SENT,
        kind=AlertKind.REPORTED,
        recipient_code="100001",
        recipient_kind=OrgKind.SCHOOL,
        force_code="10",
        episode_ref="E1",
        event_message_id="m",
        at=datetime.now(UTC),
    )


async def test_consumer_applies_each_message_once_and_publishes_after_commit(
    settings: RelaySettings,
) -> None:
    settings = settings.model_copy(update={"database_url": settings.router_database_url})
    runtime = ServiceRuntime.build("router", settings, metadata)

    async def on_status(session, message: AlertStatusV1, out) -> None:  # type: ignore[no-untyped-def]
        await session.execute(seen.insert().values(id=message.message_id))
        await out.publish(EPISODE_EVENTS, "k", status("out-" + message.message_id))

    # Any catalogue topic will do as the input; alert-status is small to build.
    runtime.consumers.subscribe(ALERT_STATUS, on_status)
    async with runtime.db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    await runtime.start()
    try:
        ids = [uuid.uuid4().hex for _ in range(5)]
        for message_id in [*ids, ids[0], ids[3]]:  # two redeliveries
            await runtime.broker.publish(
                status(message_id).model_dump_json().encode(),
                topic=settings.topic(ALERT_STATUS.wire),
                key=b"k",
            )
        await runtime.broker.publish(b'{"not": "valid"}', topic=settings.topic(ALERT_STATUS.wire))

        async def count() -> int:
            async with runtime.db.transaction() as session:
                return int(await session.scalar(select(func.count()).select_from(seen)) or 0)

        # The bad message has no key: it may land on another partition and be handled
        # before the redeliveries, so wait for both.
        counters = runtime.consumers.counters
        await eventually(lambda: counters.dead_lettered == 1 and counters.duplicates >= 2, 60)
        assert await count() == 5
        assert counters.duplicates == 2

        consumer = AIOKafkaConsumer(
            settings.topic(EPISODE_EVENTS.wire),
            settings.topic(ALERT_STATUS.dlq),
            bootstrap_servers=settings.bootstrap,
            auto_offset_reset="earliest",
            group_id=f"probe-{uuid.uuid4().hex}",
        )
        await consumer.start()
        got: list[str] = []
        try:

            async def drained() -> bool:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    got.extend(r.topic for r in records)
                return len(got) >= 6

            await eventually(drained, 60)
        finally:
            await consumer.stop()
        assert got.count(settings.topic(EPISODE_EVENTS.wire)) == 5
        assert got.count(settings.topic(ALERT_STATUS.dlq)) == 1
    finally:
        await runtime.stop()

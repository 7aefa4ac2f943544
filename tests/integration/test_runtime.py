"""The inbox/outbox consumer on the real broker and database: a message handled once,
redelivery absorbed, what the handler publishes arrives after the commit; a batch taken
in one transaction, one by one when that fails, and in parts when an urgent transaction
waits for SQLite's writer; the outbox relay's acknowledgements awaited together."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fast_depends import utils as fast_depends_utils
from faststream.kafka.parser import AioKafkaBatchParser
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.catalogue import ALERT_STATUS, EPISODE_EVENTS
from schemas.messages import AlertKind, AlertState, AlertStatusV1, DeadLetterV1, OrgKind
from services.runtime import consumer as consumer_module
from services.runtime.database import Database, utcnow
from services.runtime.handling import Outbox, UnprocessableError
from services.runtime.kafka import ensure_topics, group_options
from services.runtime.messaging import OutboxRelay, messaging_tables, publish_later
from services.runtime.service import ServiceRuntime
from services.runtime.settings import RelaySettings
from tests.conftest import eventually

metadata = MetaData()
seen = Table("probe_seen", metadata, Column("id", String(64), primary_key=True))
# No unique key: a message applied twice shows as two rows.
effects = Table(
    "probe_effects",
    metadata,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(64), nullable=False),
)


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
            **group_options(settings),
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


# --- batches ------------------------------------------------------------------------


class Probe:
    """A handler that records each message it applies (in ``probe_effects``) and the
    session it ran in, and fails as told: ``fail[message_id]`` exceptions, raised in turn
    on that message's calls."""

    def __init__(self, fail: dict[str, list[Exception]] | None = None) -> None:
        self.fail = fail or {}
        self.calls: list[tuple[str, AsyncSession]] = []

    async def __call__(self, session: AsyncSession, message: AlertStatusV1, out: Outbox) -> None:
        self.calls.append((message.message_id, session))
        await session.execute(effects.insert().values(message_id=message.message_id))
        await out.publish(EPISODE_EVENTS, "k", status("out-" + message.message_id))
        if self.fail.get(message.message_id):
            raise self.fail[message.message_id].pop(0)

    def sessions(self, message_ids: list[str]) -> list[AsyncSession]:
        """The sessions the calls for these messages ran in, without repeats."""
        found: list[AsyncSession] = []
        for message_id, session in self.calls:
            if message_id in message_ids and not any(session is s for s in found):
                found.append(session)
        return found


async def publish_first(settings: RelaySettings, bodies: list[bytes]) -> None:
    """Put ``bodies`` on alert-status (one partition) before the consumer starts, so that
    it takes them in one batch."""
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        acks = [
            await producer.send(settings.topic(ALERT_STATUS.wire), body, key=b"k")
            for body in bodies
        ]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


@asynccontextmanager
async def consuming(settings: RelaySettings, probe: Probe) -> AsyncIterator[ServiceRuntime]:
    settings = settings.model_copy(update={"database_url": settings.router_database_url})
    runtime = ServiceRuntime.build("router", settings, metadata)
    runtime.consumers.subscribe(ALERT_STATUS, probe)
    runtime.consumers.retry_delay_s = 0.05
    async with runtime.db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield runtime
    finally:
        await runtime.stop()


async def applied(runtime: ServiceRuntime) -> Counter[str]:
    async with runtime.db.transaction() as session:
        return Counter((await session.scalars(select(effects.c.message_id))).all())


async def outbox_empty(runtime: ServiceRuntime) -> bool:
    outbox = runtime.tables.outbox
    async with runtime.db.transaction() as session:
        pending = await session.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        )
    return pending == 0


async def read_topic(
    settings: RelaySettings, runtime: ServiceRuntime, wire: str, count: int
) -> list[Any]:
    """Every record on ``wire``: at least ``count``, and then nothing more, read up to the
    end of each partition once ``runtime`` has nothing left to publish (what it handled
    is in its outbox, dead letters went out before they were counted)."""
    consumer = AIOKafkaConsumer(
        settings.topic(wire), bootstrap_servers=settings.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    got: list[Any] = []
    try:

        async def fetch() -> None:
            for records in (await consumer.getmany(timeout_ms=100)).values():
                got.extend(records)

        async def drained() -> bool:
            await fetch()
            return len(got) >= count

        await eventually(drained, 60)
        await eventually(lambda: outbox_empty(runtime), 30)
        parts = list(consumer.assignment())
        ends = await consumer.end_offsets(parts)

        async def at_the_end() -> bool:
            await fetch()
            return all([await consumer.position(tp) >= ends[tp] for tp in parts])

        await eventually(at_the_end, 30, 0.01)
    finally:
        await consumer.stop()
    return got


def message_id(record: Any) -> str:
    return str(dict(record.headers)["message_id"].decode())


def ids(count: int) -> list[str]:
    return [uuid.uuid4().hex for _ in range(count)]


async def test_a_batch_applies_each_message_once_in_one_transaction(
    settings: RelaySettings,
) -> None:
    old, m1, m2, m3 = ids(4)
    probe = Probe()
    # One repeat inside the batch, and one message handled before (in the inbox).
    await publish_first(
        settings,
        [status(i).model_dump_json().encode() for i in (old, m1, m2, m1, m3)],
    )
    async with consuming(settings, probe) as runtime:
        async with runtime.db.transaction() as session:
            await session.execute(effects.insert().values(message_id=old))
            await session.execute(
                runtime.tables.inbox.insert().values(
                    message_id=old, topic=ALERT_STATUS.wire, received_at=utcnow()
                )
            )
        await runtime.start()
        counters = runtime.consumers.counters
        await eventually(lambda: counters.processed == 3 and counters.duplicates == 2, 60)

        assert await applied(runtime) == {old: 1, m1: 1, m2: 1, m3: 1}
        assert [message_id for message_id, _ in probe.calls] == [m1, m2, m3]
        assert len(probe.sessions([m1, m2, m3])) == 1  # one transaction
        assert counters.by_topic == {ALERT_STATUS.wire: 3}
        out = await read_topic(settings, runtime, EPISODE_EVENTS.wire, 3)
        assert sorted(message_id(r) for r in out) == sorted(f"out-{i}" for i in (m1, m2, m3))


async def test_a_batch_reaches_the_handlers_without_faststream_decoding_it(
    settings: RelaySettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The subscriber hands the batch's records on as they came (consumer.batch_records):
    FastStream's per-record message objects and ``json.loads`` (issue 18: a sixth of the
    console's CPU, never read) and FastDepends' worker thread per batch are not run."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("FastStream decoded the batch")

    monkeypatch.setattr(AioKafkaBatchParser, "decode_batch", refuse)
    monkeypatch.setattr(fast_depends_utils, "run_in_threadpool", refuse)
    m1, m2 = ids(2)
    probe = Probe()
    await publish_first(settings, [status(i).model_dump_json().encode() for i in (m1, m2)])
    async with consuming(settings, probe) as runtime:
        await runtime.start()
        counters = runtime.consumers.counters
        await eventually(lambda: counters.processed == 2, 60)
        assert await applied(runtime) == {m1: 1, m2: 1}
        assert counters.dead_lettered == 0 and counters.retried == 0


async def test_an_unprocessable_message_in_a_batch_is_dead_lettered_alone(
    settings: RelaySettings,
) -> None:
    m1, bad, m3 = ids(3)
    probe = Probe({bad: [UnprocessableError("no such alert")] * 2})
    await publish_first(
        settings,
        [
            status(m1).model_dump_json().encode(),
            b'{"not": "valid"}',  # offset 1: does not parse
            status(bad).model_dump_json().encode(),  # offset 2: its handler refuses it
            status(m3).model_dump_json().encode(),
        ],
    )
    async with consuming(settings, probe) as runtime:
        await runtime.start()
        counters = runtime.consumers.counters
        await eventually(lambda: counters.processed == 2 and counters.dead_lettered == 2, 60)

        assert await applied(runtime) == {m1: 1, m3: 1}
        # Tried together first (rolled back), then one per transaction.
        assert [message_id for message_id, _ in probe.calls] == [m1, bad, m1, bad, m3]
        assert len(probe.sessions([m1, bad])) == 3
        letters = [
            DeadLetterV1.model_validate_json(r.value)
            for r in await read_topic(settings, runtime, ALERT_STATUS.dlq, 2)
        ]
        assert [(letter.offset, letter.error) for letter in letters] == [
            (1, letters[0].error),
            (2, "no such alert"),
        ]
        assert letters[0].error.startswith("does not match AlertStatusV1")
        assert bad in letters[1].payload
        out = await read_topic(settings, runtime, EPISODE_EVENTS.wire, 2)
        assert sorted(message_id(r) for r in out) == sorted([f"out-{m1}", f"out-{m3}"])


async def test_a_transient_failure_in_a_batch_redelivers_it_and_applies_nothing_twice(
    settings: RelaySettings,
) -> None:
    m1, flaky, m3 = ids(3)
    # Fails in the batch, then alone; the redelivered batch goes through.
    probe = Probe({flaky: [RuntimeError("database away"), RuntimeError("database away")]})
    await publish_first(settings, [status(i).model_dump_json().encode() for i in (m1, flaky, m3)])
    async with consuming(settings, probe) as runtime:
        await runtime.start()
        counters = runtime.consumers.counters
        await eventually(lambda: counters.processed == 3, 60)

        assert await applied(runtime) == {m1: 1, flaky: 1, m3: 1}
        assert counters.retried == 1
        assert counters.duplicates == 1  # m1, committed alone before the failure
        assert counters.dead_lettered == 0
        assert [message_id for message_id, _ in probe.calls] == [m1, flaky, m1, flaky, flaky, m3]
        out = await read_topic(settings, runtime, EPISODE_EVENTS.wire, 3)
        assert sorted(message_id(r) for r in out) == sorted(f"out-{i}" for i in (m1, flaky, m3))


async def test_a_batch_commits_what_it_has_when_an_urgent_transaction_waits(
    settings: RelaySettings, tmp_path: Path
) -> None:
    """On SQLite (one writer), the notifier's delivery loop must not wait for a whole
    batch: the batch commits after the message in hand and goes on in a new transaction."""
    m1, m2, m3 = ids(3)
    probe = Probe()
    seen_by_urgent: list[Counter[str]] = []
    urgent_tasks: list[asyncio.Task[None]] = []
    settings = settings.model_copy(
        update={"router_database_url": f"sqlite+aiosqlite:///{tmp_path / 'urgent.db'}"}
    )
    await publish_first(settings, [status(i).model_dump_json().encode() for i in (m1, m2, m3)])
    async with consuming(settings, probe) as runtime:

        async def urgent() -> None:
            async with runtime.db.transaction(urgent=True) as session:
                found = (await session.scalars(select(effects.c.message_id))).all()
                seen_by_urgent.append(Counter(found))

        async def first_starts_urgent(
            session: AsyncSession, message: AlertStatusV1, out: Outbox
        ) -> None:
            await probe(session, message, out)
            if message.message_id == m1:
                urgent_tasks.append(asyncio.create_task(urgent()))
                # Go on once it is waiting for the writer.
                await eventually(lambda: runtime.db.urgent_waiting, 10, 0.001)

        runtime.consumers.subscribe(ALERT_STATUS, first_starts_urgent)
        await runtime.start()
        counters = runtime.consumers.counters
        await eventually(lambda: counters.processed == 3, 60)
        await asyncio.gather(*urgent_tasks)

        assert seen_by_urgent == [Counter({m1: 1})]  # m1 committed, m2 and m3 not yet
        assert await applied(runtime) == {m1: 1, m2: 1, m3: 1}
        assert [message_id for message_id, _ in probe.calls] == [m1, m2, m3]
        assert len(probe.sessions([m1, m2, m3])) == 2  # m1 alone, then m2 and m3
        assert counters.duplicates == 0
        out = await read_topic(settings, runtime, EPISODE_EVENTS.wire, 3)
        assert sorted(message_id(r) for r in out) == sorted(f"out-{i}" for i in (m1, m2, m3))


async def test_a_batch_in_parts_looks_its_inbox_up_once(
    settings: RelaySettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parts of a batch an urgent transaction splits use the first part's look-up of
    the inbox: a message repeated after the split is still skipped, once applied."""
    m1, m2, m3 = ids(3)
    probe = Probe()
    lookups: list[int] = []
    looked_up = consumer_module.unseen_deliveries

    async def counted(session: AsyncSession, tables: Any, deliveries: Any) -> list[bool]:
        lookups.append(len(deliveries))
        return await looked_up(session, tables, deliveries)

    monkeypatch.setattr(consumer_module, "unseen_deliveries", counted)
    settings = settings.model_copy(
        update={"router_database_url": f"sqlite+aiosqlite:///{tmp_path / 'parts.db'}"}
    )
    bodies = [status(i).model_dump_json().encode() for i in (m1, m2, m1, m3)]
    await publish_first(settings, bodies)
    urgent_tasks: list[asyncio.Task[None]] = []
    async with consuming(settings, probe) as runtime:

        async def urgent() -> None:
            async with runtime.db.transaction(urgent=True):
                pass

        async def second_starts_urgent(
            session: AsyncSession, message: AlertStatusV1, out: Outbox
        ) -> None:
            await probe(session, message, out)
            if message.message_id == m2:
                urgent_tasks.append(asyncio.create_task(urgent()))
                await eventually(lambda: runtime.db.urgent_waiting, 10, 0.001)

        runtime.consumers.subscribe(ALERT_STATUS, second_starts_urgent)
        await runtime.start()
        counters = runtime.consumers.counters
        await eventually(lambda: counters.processed + counters.duplicates == 4, 60)
        await asyncio.gather(*urgent_tasks)

        assert await applied(runtime) == {m1: 1, m2: 1, m3: 1}
        assert [message_id for message_id, _ in probe.calls] == [m1, m2, m3]
        assert len(probe.sessions([m1, m2, m3])) == 2  # m1 and m2, then m3
        assert counters.duplicates == 1  # m1 again, in the second part
        assert lookups == [4]


# --- outbox relay -------------------------------------------------------------------


class HeldPublisher:
    """Takes every message and acknowledges none until told to."""

    def __init__(self) -> None:
        self.handed: list[str] = []
        self.acks: list[asyncio.Future[object]] = []

    async def send(
        self, topic: str, key: str | None, payload: bytes, headers: dict[str, str]
    ) -> asyncio.Future[object]:
        self.handed.append(headers["message_id"])
        self.acks.append(asyncio.get_running_loop().create_future())
        return self.acks[-1]


@pytest.fixture
def outbox_db(database_url: Callable[[str], str]) -> Database:
    return Database(database_url("router"))


async def test_the_outbox_relay_awaits_its_acknowledgements_together(outbox_db: Database) -> None:
    tables = messaging_tables(MetaData(), "probe")
    async with outbox_db.engine.begin() as conn:
        await conn.run_sync(tables.outbox.metadata.create_all)
    publisher = HeldPublisher()
    relay = OutboxRelay(outbox_db, tables, publisher)
    names = ids(3)
    async with outbox_db.transaction() as session:
        for name in names:
            await publish_later(session, tables, "t", "k", status(name))

    async def unpublished() -> int:
        async with outbox_db.transaction() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(tables.outbox)
                    .where(tables.outbox.c.published_at.is_(None))
                )
                or 0
            )

    try:
        # Every row is handed over, in order, before any acknowledgement came.
        attempt = asyncio.create_task(relay.publish_pending())
        await eventually(lambda: len(publisher.handed) == 3, 10)
        assert publisher.handed == names
        # Told of the second acknowledgement after the relay (callbacks run in the
        # order they were added): a relay that gave up on the failure would be done.
        heard = asyncio.Event()
        publisher.acks[1].add_done_callback(lambda _: heard.set())
        publisher.acks[0].set_result(None)
        publisher.acks[1].set_exception(ConnectionError("broker away"))
        await heard.wait()
        assert not attempt.done()  # it waits for the last one too
        publisher.acks[2].set_result(None)
        with pytest.raises(ConnectionError):
            await attempt
        assert await unpublished() == 3  # all go again
        assert relay.published == 0

        attempt = asyncio.create_task(relay.publish_pending())
        await eventually(lambda: len(publisher.handed) == 6, 10)
        assert publisher.handed[3:] == names
        for ack in publisher.acks[3:]:
            ack.set_result(None)
        assert await attempt == 3
        assert await unpublished() == 0
        assert relay.published == 3
    finally:
        await outbox_db.dispose()

"""The floors ``relay bench pipeline`` measures the stack against: the same work done by
the raw clients.

- **The raw floor**: N messages of an event's size through three Kafka hops with
  aiokafka (produce to A; consume A, produce to B; consume B, produce to C; consume C),
  and as many emails as the pipeline delivered sent with aiosmtplib over the notifier's
  number of connections to the same sink.
- **The durable floor** (issue 18): the same, plus the least the design's durability
  costs (DESIGN §2): each hop writes one SQLite transaction per batch it handles (inbox
  and outbox rows) before it produces and commits its offsets, the first hop one per
  batch of events posted together (the events arrive by HTTP, at most
  ``CONCURRENT_POSTS`` at once), and each SMTP connection commits an outcome row after
  each email before it sends the next. Every commit is fsync'd (``synchronous=FULL``; the
  services run ``NORMAL``, so this floor errs high), each service's file is written on a
  thread of its own, as a lean service would, so the loop goes on while it syncs.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.runtime.kafka import group_options, security_options
from services.runtime.settings import RelaySettings

CONCURRENT_POSTS = 8  # as fast as possible: this many requests in flight


class Journal:
    """One service's SQLite file for the durable floor: an inbox and an outbox, each
    transaction fsync'd, written on a thread of its own."""

    def __init__(self, path: Path) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=path.stem)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "synchronous=FULL"):
            self._db.execute(f"PRAGMA {pragma}")
        for table in ("inbox", "outbox"):
            self._db.execute(f"CREATE TABLE {table} (id TEXT PRIMARY KEY, body BLOB)")

    def _write(self, inbox: Sequence[tuple[str, bytes]], outbox: Sequence[bytes]) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        self._db.executemany("INSERT INTO inbox VALUES (?, ?)", inbox)
        self._db.executemany(
            "INSERT INTO outbox VALUES (?, ?)", [(uuid.uuid4().hex, b) for b in outbox]
        )
        self._db.execute("COMMIT")

    async def commit(self, inbox: Sequence[tuple[str, bytes]], outbox: Sequence[bytes]) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._write, inbox, outbox)

    def close(self) -> None:
        self._thread.shutdown()
        self._db.close()


async def kafka_floor(
    settings: RelaySettings, count: int, size: int, journals: Path | None = None
) -> float:
    """``count`` messages of ``size`` bytes through three hops, raw: the seconds from
    the first send to the last receipt. With ``journals`` (a folder), each hop and the
    first producer keep a :class:`Journal` there (the durable floor; the folder exists)."""
    prefix = f"bench-floor-{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}-{hop}" for hop in "abc"]
    servers = settings.bootstrap
    await _create_topics(settings, names)
    producer = AIOKafkaProducer(
        bootstrap_servers=servers,
        enable_idempotence=False,
        acks="all",
        linger_ms=5,
        **security_options(settings),
    )
    consumers = [
        AIOKafkaConsumer(
            name,
            bootstrap_servers=servers,
            group_id=f"{name}-group",
            auto_offset_reset="earliest",
            **group_options(settings),
            **security_options(settings),
        )
        for name in names
    ]
    files: list[Journal | None] = [None] * 4
    if journals is not None:
        files = [Journal(journals / f"{prefix}-{n}.db") for n in range(4)]
    await producer.start()
    for consumer in consumers:
        await consumer.start()
    payload = b"x" * size
    try:
        # The consumers have their partitions before the clock starts.
        for consumer in consumers:
            while not consumer.assignment():
                await consumer.getmany(timeout_ms=200)
        started = time.monotonic()
        hops = [
            asyncio.create_task(
                _hop(producer, count, consumers[n], names[n + 1] if n < 2 else None, files[n + 1])
            )
            for n in range(3)
        ]
        await _first(producer, count, names[0], payload, files[0])
        await asyncio.wait_for(asyncio.gather(*hops), timeout=600)
        return time.monotonic() - started
    finally:
        for consumer in consumers:
            await consumer.stop()
        await producer.stop()
        for file in files:
            if file is not None:
                file.close()


async def _create_topics(settings: RelaySettings, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap, **security_options(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, settings.partitions, 1) for n in names])
    finally:
        await admin.close()


async def _hop(
    producer: AIOKafkaProducer,
    count: int,
    source: AIOKafkaConsumer,
    target: str | None,
    file: Journal | None,
) -> None:
    """Move ``count`` messages from ``source`` on to ``target`` (none: the last hop)."""
    moved = 0
    while moved < count:
        batches = await source.getmany(timeout_ms=500, max_records=1000)
        records = [r for rs in batches.values() for r in rs]
        if records and file is not None:
            inbox = [(f"{r.topic}:{r.partition}:{r.offset}", r.value or b"") for r in records]
            await file.commit(inbox, [v for _, v in inbox] if target else [])
        if target is not None:
            sent = [await producer.send(target, r.value, key=r.key) for r in records]
            await asyncio.gather(*sent)
        if records:
            await source.commit()
        moved += len(records)


async def _first(
    producer: AIOKafkaProducer, count: int, topic: str, payload: bytes, file: Journal | None
) -> None:
    """The first producer: every message at once, or with a journal, in batches of
    CONCURRENT_POSTS, each committed to the journal before it is sent."""
    step = count if file is None else CONCURRENT_POSTS
    for start in range(0, count, step):
        keys = range(start, min(count, start + step))
        if file is not None:
            events = [(f"event-{n}", payload) for n in keys]
            await file.commit(events, [payload] * len(keys))
        sends = [await producer.send(topic, payload, key=str(n).encode()) for n in keys]
        await asyncio.gather(*sends)


async def smtp_floor(
    port: int, count: int, sample: bytes, connections: int, journal: Path | None = None
) -> float:
    """``count`` emails like ``sample`` sent raw over ``connections`` connections (the
    notifier's pool, RELAY_SMTP_URL ``?pool=``). With
    ``journal`` (a file), each connection commits an outcome there after each email,
    before it sends the next (the durable floor)."""
    message = EmailMessage()
    message["From"] = "relay@bench.example"
    message["To"] = "floor@bench.example"
    message["Subject"] = "floor"
    message.set_content(sample.decode("utf-8", "replace"))
    file = None if journal is None else Journal(journal)

    async def connection(share: int) -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
        await smtp.connect()
        try:
            for _ in range(share):
                await smtp.send_message(message)
                if file is not None:
                    await file.commit([(uuid.uuid4().hex, b"sent")], [])
        finally:
            await smtp.quit()

    each, extra = divmod(count, connections)
    shares = [each + (n < extra) for n in range(connections)]
    try:
        started = time.monotonic()
        await asyncio.gather(*(connection(s) for s in shares if s))
        return time.monotonic() - started
    finally:
        if file is not None:
            file.close()

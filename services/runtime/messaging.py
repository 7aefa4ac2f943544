"""Inbox and outbox (DESIGN §2): effects exactly once over at-least-once delivery.

A consumer records each message id in its inbox in the same transaction as the effect,
and writes what it must publish to its outbox; the :class:`OutboxRelay` publishes after
the commit. A redelivered message finds its id in the inbox and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    Text,
    bindparam,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from services.runtime import on_connection
from services.runtime.database import Database, UtcDateTime, utcnow
from services.runtime.deferred_writes import deferred
from services.runtime.prepared import Prepared, json_values, sends_arrays

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MessagingTables:
    inbox: Table
    outbox: Table


def messaging_tables(metadata: MetaData, prefix: str) -> MessagingTables:
    """Add ``<prefix>_inbox`` and ``<prefix>_outbox`` to a service's metadata."""
    inbox = Table(
        f"{prefix}_inbox",
        metadata,
        Column("message_id", String(200), primary_key=True),
        Column("topic", String(200), primary_key=True),
        Column("received_at", UtcDateTime(), nullable=False),
    )
    outbox = Table(
        f"{prefix}_outbox",
        metadata,
        Column(
            "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        Column("topic", String(200), nullable=False),
        Column("key", String(300), nullable=True),
        Column("message_id", String(200), nullable=False),
        Column("payload", Text, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("published_at", UtcDateTime(), nullable=True),
        Index(f"ix_{prefix}_outbox_pending", "published_at", "id"),
    )
    return MessagingTables(inbox, outbox)


async def first_delivery(
    session: AsyncSession, tables: MessagingTables, message_id: str, topic: str
) -> bool:
    """Record ``message_id`` in the inbox; False when it was seen before (skip it)."""
    if await in_inbox(session, tables, message_id, topic):
        return False
    await session.execute(
        tables.inbox.insert().values(message_id=message_id, topic=topic, received_at=utcnow())
    )
    return True


@functools.cache
def _inbox_lookup(inbox: Table) -> Any:
    return select(inbox.c.message_id, inbox.c.topic).where(
        inbox.c.message_id.in_(bindparam("ids", expanding=True))
    )


@functools.cache
def _inbox_lookup_array(inbox: Table) -> Prepared:
    """:func:`_inbox_lookup` with the ids as one JSON array, prepared: on SQLite on the
    driver, one text for every batch (issue 18)."""
    return Prepared(
        select(inbox.c.message_id, inbox.c.topic).where(inbox.c.message_id.in_(json_values("ids")))
    )


def _seen_on(connection: Connection, inbox: Table, ids: list[str]) -> set[tuple[str, str]]:
    """The ``(message_id, topic)`` pairs in ``inbox`` among ``ids``."""
    if sends_arrays(connection):
        rows = _inbox_lookup_array(inbox).run(connection, {"ids": json.dumps(ids)})
    else:
        rows = [tuple(row) for row in connection.execute(_inbox_lookup(inbox), {"ids": ids})]
    return {(message_id, topic) for message_id, topic in rows}


async def unseen_deliveries(
    session: AsyncSession, tables: MessagingTables, deliveries: Sequence[tuple[str, str]]
) -> list[bool]:
    """:func:`first_delivery` for a batch of ``(message_id, topic)``, in one look-up per
    topic, without recording anything (:func:`record_deliveries` does): per delivery,
    False when its id is in the inbox or came earlier in the batch (skip it). An empty id
    is never recorded, so never skipped."""
    wanted = {(message_id, topic) for message_id, topic in deliveries if message_id}
    seen: set[tuple[str, str]] = set()
    if wanted:
        # One look-up for every topic of the batch (the primary key leads with the id);
        # an id stored under another topic only is not this delivery.
        found = await on_connection.run(
            session, _seen_on, tables.inbox, sorted({m for m, _ in wanted})
        )
        seen.update(wanted & found)
    first: list[bool] = []
    for message_id, topic in deliveries:
        fresh = not message_id or (message_id, topic) not in seen
        if fresh and message_id:
            seen.add((message_id, topic))
        first.append(fresh)
    return first


async def record_deliveries(
    session: AsyncSession,
    tables: MessagingTables,
    deliveries: Sequence[tuple[str, str]],
    first: Sequence[bool],
) -> None:
    """Put the deliveries ``first`` marks (as :func:`unseen_deliveries` gave it; the
    deliveries may stop short of it) in the inbox, in one insert."""
    now = utcnow()
    rows = [
        {"message_id": message_id, "topic": topic, "received_at": now}
        for (message_id, topic), fresh in zip(deliveries, first, strict=False)
        if fresh and message_id
    ]
    if rows:
        insert = _inbox_insert(tables.inbox)
        await session.run_sync(lambda sync: insert.run_many(sync.connection(), rows))


@functools.cache
def _inbox_insert(inbox: Table) -> Prepared:
    """The inbox's insert, prepared: on SQLite one ``executemany`` on the driver, without
    SQLAlchemy's parameters per row (issue 18)."""
    return Prepared(inbox.insert())


async def in_inbox(
    session: AsyncSession, tables: MessagingTables, message_id: str, topic: str
) -> bool:
    return (
        await session.scalar(
            select(tables.inbox.c.message_id).where(
                tables.inbox.c.message_id == message_id, tables.inbox.c.topic == topic
            )
        )
    ) is not None


async def publish_later(
    session: AsyncSession,
    tables: MessagingTables,
    topic: str,
    key: str | None,
    message: BaseModel,
) -> None:
    """Queue ``message`` for the outbox relay, inside the caller's transaction."""
    # Values as parameters: one compiled statement, built once.
    await session.execute(_insert(tables.outbox), outbox_row(topic, key, message))


@functools.cache
def _insert(table: Table) -> Any:
    return table.insert()


@functools.cache
def _insert_prepared(table: Table) -> Prepared:
    """An outbox's insert, prepared: on SQLite a transaction's held rows go in one
    ``executemany`` on the driver (services/runtime/prepared.py)."""
    return Prepared(_insert(table))


@dataclass
class HeldOutboxRows:
    """Outbox rows held to the end of their transaction (services/runtime/deferred_writes.py):
    each outbox's rows in one executemany, in the order they were published, where a
    statement a message cost one each (issue 18). Nothing reads an outbox in the
    transaction that writes it: the relay reads committed rows only."""

    tables: dict[str, Table] = field(default_factory=dict)
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, outbox: Table, row: dict[str, Any]) -> None:
        self.tables.setdefault(outbox.name, outbox)
        self.rows.setdefault(outbox.name, []).append(row)

    async def flush(self, session: AsyncSession) -> None:
        held, self.rows = self.rows, {}
        for name, rows in held.items():
            await on_connection.run(session, _insert_prepared(self.tables[name]).run_many, rows)


def publish_at_commit(
    session: AsyncSession,
    tables: MessagingTables,
    topic: str,
    key: str | None,
    message: BaseModel,
) -> None:
    """:func:`publish_later`, its row written with the transaction's others just before
    it commits (:class:`~services.runtime.database.Database` flushes deferred writes)."""
    deferred(session, HeldOutboxRows).add(tables.outbox, outbox_row(topic, key, message))


def outbox_row(topic: str, key: str | None, message: BaseModel) -> dict[str, Any]:
    """The outbox row that queues ``message`` (for a caller inserting rows itself)."""
    return outbox_json_row(
        topic, key, getattr(message, "message_id", ""), message.model_dump_json()
    )


def outbox_json_row(topic: str, key: str | None, message_id: str, payload: str) -> dict[str, Any]:
    """The outbox row that queues a message already written as JSON (``payload``)."""
    return {
        "topic": topic,
        "key": key,
        "message_id": message_id,
        "payload": payload,
        "created_at": utcnow(),
    }


class Publisher(Protocol):
    async def send(
        self, topic: str, key: str | None, payload: bytes, headers: dict[str, str]
    ) -> Awaitable[object]:
        """Hand one message to the producer without waiting for the broker; the awaitable
        completes once the broker acknowledged it, or raises. Messages handed over one
        after another keep that order on their partition."""


class OutboxRelay:
    """Publishes outbox rows in id order, marks them published. Wake it after a commit."""

    def __init__(
        self,
        db: Database,
        tables: MessagingTables,
        publisher: Publisher,
        poll_interval_s: float = 0.5,
        batch_size: int = 200,
    ) -> None:
        self._db = db
        self._outbox = tables.outbox
        self._publisher = publisher
        self._poll = poll_interval_s
        self._batch = batch_size
        self._wake = asyncio.Event()
        self.published = 0
        outbox = tables.outbox
        # Built once: the relay runs them on every wake (the look-up prepared: on
        # SQLite on the driver, services/runtime/prepared.py).
        # Only what is sent: the row's times are neither read nor parsed.
        self._pending = Prepared(
            select(outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.message_id, outbox.c.payload)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.id)
            .limit(batch_size)
        )
        self._mark = self._marking(bindparam("b_ids", expanding=True))
        # SQLite's: the ids as one JSON array, prepared (on the driver).
        self._mark_array = Prepared(self._marking(json_values("b_ids")))

    def wake(self) -> None:
        self._wake.set()

    async def replay(self, since: datetime | None = None) -> int:
        """Mark rows (created since ``since``) unpublished so they go out again, e.g. to
        a fresh memory-only broker. Consumers' inboxes absorb the repeats."""
        query = update(self._outbox).values(published_at=None)
        if since is not None:
            query = query.where(self._outbox.c.created_at >= since)
        async with self._db.transaction() as session:
            result = await session.execute(query)
        self.wake()
        return int(getattr(result, "rowcount", 0) or 0)

    async def republish_since(self, since: datetime) -> int:
        """Mark rows published at or after ``since`` (and so perhaps only on a broker that
        has since lost them) unpublished, so they go out again."""
        async with self._db.transaction() as session:
            result = await session.execute(
                update(self._outbox)
                .where(self._outbox.c.published_at >= since)
                .values(published_at=None)
            )
        self.wake()
        return int(getattr(result, "rowcount", 0) or 0)

    async def publish_pending(self) -> int:
        """Publish what is pending now; returns how many rows went out. A short batch
        ends it without one more look: a row committed meanwhile woke the relay, which
        looks again at once (:meth:`run`)."""
        total = 0
        while True:
            # Each a short transaction of its own on the connection, without a session
            # (Database.run: on SQLite one hand-over each; issue 18).
            rows = await self._db.run(self._pending_rows)
            if not rows:
                return total
            await self._send_all(rows)
            await self._db.run(partial(self._marked, [row.id for row in rows], utcnow()))
            total += len(rows)
            self.published += len(rows)
            if len(rows) < self._batch:
                return total

    def _pending_rows(self, connection: Connection) -> Sequence[Row[Any]]:
        return self._pending.result(connection, {}).all()

    def _marking(self, ids: Any) -> Any:
        """The UPDATE marking the rows whose id is among ``ids`` published."""
        outbox = self._outbox
        return (
            update(outbox)
            .where(outbox.c.id.in_(ids))
            .values(published_at=bindparam("b_now", type_=outbox.c.published_at.type))
        )

    def _marked(self, ids: list[int], now: datetime, connection: Connection) -> None:
        if sends_arrays(connection):
            self._mark_array.run(connection, {"b_ids": json.dumps(ids), "b_now": now})
        else:
            connection.execute(self._mark, {"b_ids": ids, "b_now": now})

    async def _send_all(self, rows: Sequence[Row[Any]]) -> None:
        """Hand every row to the producer, then await the acknowledgements together; raise
        if any is missing (the rows stay unpublished and go again: consumers' inboxes
        absorb the repeats)."""
        acks: list[Awaitable[object]] = []
        try:
            for row in rows:
                acks.append(
                    await self._publisher.send(
                        row.topic, row.key, row.payload.encode(), {"message_id": row.message_id}
                    )
                )
        finally:
            # Even when handing over failed part way: no acknowledgement is left unheard.
            results = await asyncio.gather(*acks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def run(self) -> None:
        while True:
            try:
                await self.publish_pending()
            except (DBAPIError, OSError, ConnectionError) as exc:
                log.warning("outbox relay: %s; retrying", type(exc).__name__)
            except Exception as exc:  # the broker's own errors: keep trying, never exit
                log.warning("outbox relay: publish failed (%s); retrying", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
            self._wake.clear()

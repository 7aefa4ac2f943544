"""The notifier's consumer stores the same rows however it runs its statements (issue 18):
its reads and writes as Prepared statements (on SQLite on the driver,
services/runtime/prepared.py) leave, as stored, what SQLAlchemy's own execution of the
same statements leaves, times' text included; batches end as one message per
transaction does. The input is what the router really publishes for the demo area
(alerts asked for, RHI tasks, children's identities: found and returned episodes stand
earlier alerts down, a new report finds the child's open tasks). On SQLite, and on
PostgreSQL when ``RELAY_TEST_DATABASE_URL`` is set."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table

from relay.console_bench import console_stream, records
from relay.hop_bench import NOW
from schemas.catalogue import ALERTS_REQUESTED, CHILD_IDENTITIES, RHI_TASKS_REQUESTED
from services.notifier import child_links, handlers
from services.notifier.tables import alerts, messaging, metadata, rhi_tasks
from services.notifier.tables import child_links as links
from services.runtime.database import Database
from services.runtime.kafka import create_broker
from services.runtime.prepared import Prepared
from services.runtime.service import ServiceRuntime
from services.runtime.settings import RelaySettings

_TABLES: tuple[tuple[Table, str], ...] = (
    (alerts, "alert_id"),
    (rhi_tasks, "task_id"),
    (links, "force_code, episode_ref"),
    (messaging.outbox, "id"),
    (messaging.inbox, "message_id, topic"),
)
# Stamped with the wall clock when written (the handlers' own times come from ``NOW``).
_WRITE_TIMES = {"received_at", "created_at"}
_OUTBOX = messaging.outbox.name


def _notifier_input(folder: Path) -> list[Any]:
    _, stream, _ = console_stream(400, 5, folder, None)
    wanted = {ALERTS_REQUESTED, RHI_TASKS_REQUESTED, CHILD_IDENTITIES}
    return records([(t, m) for t, m in stream if t in wanted], RelaySettings())


async def _consume(url: str, fed: list[Any], sizes: list[int]) -> dict[str, list[Any]]:
    """The notifier's rows, as the database keeps them (the driver's values: on SQLite
    a time's text), after ``fed`` in batches of ``sizes``."""
    settings = RelaySettings()
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        broker = create_broker(settings, client_id="relay-test-notifier")  # never started
        runtime = ServiceRuntime.build("notifier", settings, metadata, db=db, broker=broker)
        consumers = runtime.consumers
        woken: list[int] = []
        clock = partial(lambda at: at, NOW)
        consumers.subscribe(
            ALERTS_REQUESTED,
            partial(handlers.on_alert_requested, now=clock, wake=lambda: woken.append(1)),
        )
        consumers.subscribe(RHI_TASKS_REQUESTED, partial(handlers.on_rhi_task_requested, now=clock))
        consumers.subscribe(CHILD_IDENTITIES, child_links.on_child_identity)
        start = 0
        for size in sizes:
            await consumers.consume_batch(fed[start : start + size])
            start += size
        assert start >= len(fed)
        assert consumers.counters.dead_lettered == 0
        assert woken
        read: dict[str, list[Any]] = {}
        async with db.engine.connect() as conn:
            for table, key in _TABLES:
                rows = (
                    await conn.exec_driver_sql(f"SELECT * FROM {table.name} ORDER BY {key}")
                ).mappings()
                kept = [{k: v for k, v in r.items() if k not in _WRITE_TIMES} for r in rows]
                if table.name == _OUTBOX:  # ids follow the order of commits, not messages
                    for row in kept:
                        del row["id"]
                    kept.sort(key=lambda r: (r["message_id"], r["topic"]))
                read[table.name] = kept
        return read
    finally:
        await db.dispose()


def test_prepared_statements_store_what_sqlalchemy_stores(
    database_url: Callable[[str], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fed = _notifier_input(tmp_path)
    sizes = [40] * (len(fed) // 40 + 1)
    prepared = asyncio.run(_consume(database_url("prepared"), fed, sizes))
    with monkeypatch.context() as patch:
        patch.setattr(Prepared, "_for", lambda self, dialect, names: None)
        executed = asyncio.run(_consume(database_url("executed"), fed, sizes))
    assert len(prepared[alerts.name]) > 100
    assert {r["state"] for r in prepared[alerts.name]} >= {"queued", "stood-down"}
    assert len(prepared[_OUTBOX]) > len(prepared[alerts.name])
    assert prepared[links.name]
    for table, _ in _TABLES:
        assert prepared[table.name] == executed[table.name], table.name


def test_batches_end_as_one_message_at_a_time(
    database_url: Callable[[str], str], tmp_path: Path
) -> None:
    fed = _notifier_input(tmp_path)
    one_by_one = asyncio.run(_consume(database_url("one"), fed, [1] * len(fed)))
    rng = random.Random(18)
    sizes = [rng.randint(1, 120) for _ in range(len(fed))]
    batched = asyncio.run(_consume(database_url("batched"), fed, sizes))
    for table, _ in _TABLES:
        assert batched[table.name] == one_by_one[table.name], table.name

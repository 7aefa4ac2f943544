"""The console's consumer writes episodes, their events, alerts and tasks per batch
(services/console/event_projection.py, alert_projection.py): whatever the batches, the
read model ends the same as with one message per transaction. The input is the demo
area's feed with what the router and the notifier really publish for it
(relay/console_bench.py), so merges, RHI tasks, reviews and statuses are all in it."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, select

from relay.console_bench import console_consumers, console_stream, records
from services.console.tables import (
    alert_states,
    alerts,
    child_links,
    child_merges,
    episode_events,
    episodes,
    metadata,
    rhi_tasks,
)
from services.runtime.database import Database
from services.runtime.prepared import Prepared
from services.runtime.settings import RelaySettings

_TABLES: tuple[tuple[Table, str], ...] = (
    (episodes, "episode_key"),
    (episode_events, "message_id"),
    (alerts, "alert_id"),
    (alert_states, "message_id"),
    (child_links, "episode_key"),
    (child_merges, "child_id"),
    (rhi_tasks, "task_id"),
)
# Stamped with the time of writing, not taken from the messages.
_WRITE_TIMES = {"updated_at", "received_at", "created_at", "requested_at_console"}


async def _consume(
    url: str, fed: list[Any], sizes: list[int], stored: bool = False
) -> dict[str, list[Any]]:
    """The read model's rows after ``fed`` in batches of ``sizes``; with ``stored``, as
    the database keeps them (the driver's values: on SQLite a time's text)."""
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        consumers = console_consumers(db, RelaySettings())
        start = 0
        for size in sizes:
            await consumers.consume_batch(fed[start : start + size])
            start += size
        assert start >= len(fed)
        assert consumers.counters.dead_lettered == 0
        read: dict[str, list[Any]] = {}
        async with db.engine.connect() as conn:
            for table, key in _TABLES:
                if stored:
                    rows = (
                        await conn.exec_driver_sql(f"SELECT * FROM {table.name} ORDER BY {key}")
                    ).mappings()
                else:
                    rows = (await conn.execute(select(table).order_by(table.c[key]))).mappings()
                read[table.name] = [
                    {k: v for k, v in row.items() if k not in _WRITE_TIMES} for row in rows
                ]
        return read
    finally:
        await db.dispose()


def test_batches_end_as_one_message_at_a_time(
    database_url: Callable[[str], str], tmp_path: Path
) -> None:
    _, stream, alerts_asked = console_stream(400, 5, tmp_path, None)
    fed = records(stream, RelaySettings())
    assert alerts_asked > 50 and len(fed) > 300
    one_by_one = asyncio.run(_consume(database_url("one"), fed, [1] * len(fed)))
    assert len(one_by_one["console_episodes"]) > 20
    rng = random.Random(18)
    for name in ("batches", "bigger"):
        top = 12 if name == "batches" else 120
        sizes = [rng.randint(1, top) for _ in range(len(fed))]
        batched = asyncio.run(_consume(database_url(name), fed, sizes))
        for table, _ in _TABLES:
            assert batched[table.name] == one_by_one[table.name], table.name


def test_prepared_writes_store_what_sqlalchemy_stores(
    database_url: Callable[[str], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch writes run as Prepared statements (issue 18: on SQLite on the driver,
    services/runtime/prepared.py): the read model holds, as stored, what SQLAlchemy's own
    execution of the same statements leaves, times' text included."""
    _, stream, _ = console_stream(300, 7, tmp_path, None)
    fed = records(stream, RelaySettings())
    sizes = [50] * (len(fed) // 50 + 1)
    prepared = asyncio.run(_consume(database_url("prepared"), fed, sizes, stored=True))
    with monkeypatch.context() as patch:
        patch.setattr(Prepared, "_for", lambda self, dialect, names: None)
        executed = asyncio.run(_consume(database_url("executed"), fed, sizes, stored=True))
    assert len(prepared["console_alert_states"]) > 100
    for table, _ in _TABLES:
        assert prepared[table.name] == executed[table.name], table.name

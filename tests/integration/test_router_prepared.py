"""The router's statements run on the driver (issue 18: an episode event's statements in
one hand-over, those marked ``prepared.hot`` as Prepared statements on SQLite's driver,
services/runtime/prepared.py): the demo area's feed leaves, as stored, the rows that
SQLAlchemy's own execution of the same statements leaves (times' text included), and
the router publishes the same messages. On PostgreSQL (RELAY_TEST_DATABASE_URL) both runs
go through ``Connection.execute``, and must agree too."""

from __future__ import annotations

import asyncio
import functools
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from relay import demo_data
from relay.hop_bench import _routed
from relay.identity_bench import accepted
from schemas.messages import AlertRequestedV1
from services.router import handlers
from services.router.tables import metadata
from services.runtime.database import Database
from services.runtime.migrations import upgrade
from services.runtime.prepared import Prepared

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
# Stamped with the time of writing (the outbox's, the directory import's), not the clock's.
_WRITE_TIMES = {"created_at", "updated_at", "published_at"}


async def _stored(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every router table's rows as the database keeps them (the driver's values: on
    SQLite a time's text), write times left out, in a fixed order."""
    db = Database(url)
    try:
        read: dict[str, list[tuple[Any, ...]]] = {}
        async with db.engine.connect() as conn:
            for table in metadata.sorted_tables:
                kept = [c.name for c in table.columns if c.name not in _WRITE_TIMES]
                if table.name.endswith("outbox"):
                    kept.remove("id")  # the same order of rows, ids from a sequence
                columns = ", ".join(kept)
                # As text: PostgreSQL orders no JSON column.
                order = ", ".join(f"CAST({name} AS TEXT)" for name in kept)
                rows = await conn.execute(
                    text(f"SELECT {columns} FROM {table.name} ORDER BY {order}")
                )
                read[table.name] = [tuple(row) for row in rows]
        return read
    finally:
        await db.dispose()


def _route(url: str, area: Path, events: list[Any]) -> tuple[dict[str, Any], list[str], int]:
    upgrade("router", url)
    _cpu, routed, refused = asyncio.run(_routed(url, area, events))
    published = [f"{type(m).__name__} {m.model_dump_json()}" for m in routed.messages]
    return asyncio.run(_stored(url)), published, refused


def test_router_statements_on_the_driver_store_what_sqlalchemy_stores(
    database_url: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    area = demo_data.generate(1500, seed=3, now=NOW)
    events = accepted(area)
    # The router's clock fixed: the rows and messages it stamps are the same in both runs.
    monkeypatch.setattr(
        handlers,
        "route_episode_event",
        functools.partial(handlers.route_episode_event, clock=lambda: NOW),
    )
    with tempfile.TemporaryDirectory() as tmp:
        demo_data.write_area(area, Path(tmp) / "area")
        on_driver, sent, refused = _route(database_url("prepared"), Path(tmp) / "area", events)
        with monkeypatch.context() as patch:
            patch.setattr(Prepared, "_for", lambda self, dialect, names: None)
            executed, sent_executed, refused_executed = _route(
                database_url("executed"), Path(tmp) / "area", events
            )
    assert len(on_driver["router_person_episodes"]) > 40
    assert len(on_driver["router_person_roll_links"]) > 40
    assert len(on_driver["router_episodes"]) > 20
    assert sum(1 for m in sent if m.startswith(AlertRequestedV1.__name__)) > 50
    for name, rows in on_driver.items():
        assert rows == executed[name], name
    assert sent == sent_executed
    assert refused == refused_executed

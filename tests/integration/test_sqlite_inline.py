"""SQLite on the event loop's thread (services/runtime/sqlite_inline.py) on real files:
it waits for another connection's lock without stopping the loop, gives up after the
busy wait, lets the loop run during a long transaction, and the thread path (aiosqlite)
stays selectable."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.exc import OperationalError

from services.runtime import sqlite_inline
from services.runtime.database import Database, configured_sqlite_driver
from tests.conftest import eventually

_metadata = MetaData()
_rows = Table(
    "inline_rows",
    _metadata,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("name", String(20), nullable=False),
)


async def _database(path: Path, **kwargs: object) -> Database:
    db = Database(f"sqlite+aiosqlite:///{path}", **kwargs)  # type: ignore[arg-type]
    async with db.engine.begin() as conn:
        await conn.run_sync(_metadata.create_all)
    return db


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await _database(tmp_path / "inline.db")
    yield database
    await database.dispose()


class Ticker:
    """Counts the loop's turns while it runs."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.ticks += 1
            await asyncio.sleep(0.005)

    def stop(self) -> None:
        self._task.cancel()


async def _names(db: Database) -> list[str]:
    async with db.transaction() as session:
        return list((await session.scalars(select(_rows.c.name).order_by(_rows.c.n))).all())


async def test_the_default_is_sqlite_on_the_loop_thread_for_aiosqlite_urls(db: Database) -> None:
    assert db.engine.dialect.driver == sqlite_inline.DRIVER
    async with db.transaction() as session:
        await session.execute(insert(_rows), [{"name": "a"}, {"name": "b"}])
    assert await _names(db) == ["a", "b"]


async def test_another_connections_lock_is_waited_for_while_the_loop_runs(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = sqlite3.connect(tmp_path / "inline.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a CLI, or another copy, writing
    ticker = Ticker()
    # The loop's ticks at each pause between the writer's tries on the lock.
    paused_at: list[int] = []
    pause = sqlite_inline._pause

    def counted_pause(seconds: float) -> None:
        paused_at.append(ticker.ticks)
        pause(seconds)

    monkeypatch.setattr(sqlite_inline, "_pause", counted_pause)
    try:

        async def write() -> None:
            async with db.transaction() as session:
                await session.execute(insert(_rows).values(name="after the lock"))

        writing = asyncio.create_task(write())
        # Refused by the lock, the writer tries again and again while the loop goes on.
        await eventually(lambda: paused_at and ticker.ticks - paused_at[0] >= 20, 10, 0.005)
        assert not writing.done()
        ticks_while_waiting = ticker.ticks - paused_at[0]
        other.execute("COMMIT")
        await asyncio.wait_for(writing, 5)
    finally:
        ticker.stop()
        other.close()
    # Not blocked in SQLite's busy handler: the loop went on about every 5 ms.
    assert ticks_while_waiting >= 20
    assert await _names(db) == ["after the lock"]


async def test_a_lock_held_past_the_busy_wait_fails_the_transaction(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_inline, "BUSY_WAIT_S", 0.2)
    other = sqlite3.connect(tmp_path / "inline.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="locked"):
            async with db.transaction() as session:
                await session.execute(insert(_rows).values(name="never"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert await _names(db) == []


async def test_a_long_transaction_gives_the_loop_turns(db: Database) -> None:
    ticker = Ticker()
    try:
        async with db.transaction() as session:
            await asyncio.sleep(0)
            first = ticker.ticks
            for n in range(3000):  # some tens of milliseconds of statements
                await session.execute(insert(_rows).values(name=f"row {n}"))
                await session.execute(select(_rows.c.n).where(_rows.c.n == n))
            during = ticker.ticks - first
    finally:
        ticker.stop()
    assert during >= 1
    assert len(await _names(db)) == 3000


async def test_a_task_woken_meanwhile_takes_several_steps_at_each_turn(db: Database) -> None:
    """A turn of the loop long enough for a chain of steps (a woken task's socket
    callback, then its own step, then the next): with ``sleep(0)`` the transaction's
    resumption went first at every pass, one step of the chain a slice."""
    stamps: list[float] = []

    async def chain() -> None:
        while True:
            stamps.append(time.monotonic())
            await asyncio.sleep(0)  # one step, the next scheduled by this one

    async with db.transaction() as session:
        await asyncio.sleep(0)
        task = asyncio.create_task(chain())
        await asyncio.sleep(0)
        for n in range(3000):  # some tens of milliseconds of statements
            await session.execute(insert(_rows).values(name=f"row {n}"))
        task.cancel()
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    turns = sum(gap > sqlite_inline.SLICE_S / 2 for gap in gaps)  # the transaction's slices
    assert turns >= 2
    assert len(stamps) >= 3 * turns  # several steps at each turn, not one


async def test_a_failed_transaction_is_rolled_back_and_the_connection_reused(
    db: Database,
) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with db.transaction() as session:
            await session.execute(insert(_rows).values(name="rolled back"))
            raise RuntimeError("boom")
    async with db.transaction() as session:
        await session.execute(insert(_rows).values(name="kept"))
    assert await _names(db) == ["kept"]


async def test_the_thread_path_stays_selectable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELAY_SQLITE_DRIVER", "aiosqlite")
    assert configured_sqlite_driver() == "aiosqlite"
    db = await _database(tmp_path / "thread.db")
    try:
        assert db.engine.dialect.driver == "aiosqlite"
        async with db.transaction() as session:
            await session.execute(insert(_rows).values(name="on a thread"))
        assert await _names(db) == ["on a thread"]
    finally:
        await db.dispose()
    monkeypatch.setenv("RELAY_SQLITE_DRIVER", "threads")
    with pytest.raises(ValueError, match="RELAY_SQLITE_DRIVER"):
        configured_sqlite_driver()

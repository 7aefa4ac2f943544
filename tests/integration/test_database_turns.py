"""A service's transactions on a real SQLite file take turns in the process: urgent ones
(the notifier's delivery loop) commit before ordinary ones queued earlier, and a
transaction opened inside another fails at once instead of waiting for itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

from services.runtime.database import Database
from tests.conftest import eventually

_metadata = MetaData()
_log = Table(
    "turns_log",
    _metadata,
    Column("n", Integer, primary_key=True, autoincrement=True),
    Column("name", String(20), nullable=False),
)


async def _database(tmp_path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}")
    async with db.engine.begin() as conn:
        await conn.run_sync(_metadata.create_all)
    return db


async def test_urgent_transactions_commit_before_ordinary_ones_queued_earlier(
    tmp_path: Path,
) -> None:
    db = await _database(tmp_path)
    holding, let_go = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with db.transaction() as session:
            await session.execute(insert(_log).values(name="first"))
            holding.set()
            await let_go.wait()

    async def write(name: str, urgent: bool) -> None:
        async with db.transaction(urgent=urgent) as session:
            await session.execute(insert(_log).values(name=name))

    try:
        holder = asyncio.create_task(first())
        await holding.wait()
        turns = db._turns
        assert turns is not None
        queued = []
        for name, urgent in [("batch-1", False), ("batch-2", False), ("sent-1", True)]:
            queued.append(asyncio.create_task(write(name, urgent)))
            # Queued in this order: each waits for its turn before the next starts.
            await eventually(lambda: turns.waiting == len(queued), 5, 0.001)
        let_go.set()
        await asyncio.gather(holder, *queued)
        async with db.transaction() as session:
            order = (await session.scalars(select(_log.c.name).order_by(_log.c.n))).all()
        assert order == ["first", "sent-1", "batch-1", "batch-2"]
    finally:
        await db.dispose()


async def test_a_transaction_inside_another_on_the_same_database_fails_at_once(
    tmp_path: Path,
) -> None:
    db = await _database(tmp_path)
    try:
        async with db.transaction() as session:
            await session.execute(insert(_log).values(name="outer"))
            with pytest.raises(RuntimeError, match="inside another"):
                async with db.transaction(urgent=True):
                    pass
        async with db.transaction() as session:
            assert (await session.scalars(select(_log.c.name))).all() == ["outer"]
    finally:
        await db.dispose()

"""Statements run on the driver (services/runtime/prepared.py) and a handler's step in
one hand-over (services/runtime/hand_over.py), issue 18: the rows they write are the
rows ``Connection.execute`` writes (a ``UtcDateTime`` the same text in SQLite, values
the statement holds, RETURNING's values typed), a transaction of :meth:`Database.run`
commits or rolls back as a whole, and a step that truly waits still waits. On SQLite,
and on PostgreSQL when ``RELAY_TEST_DATABASE_URL`` is set (there both go through
``Connection.execute``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from services.runtime import conflicts
from services.runtime.database import Database, UtcDateTime
from services.runtime.hand_over import in_one_hand_over
from services.runtime.prepared import Prepared, hot_prepared

T0 = datetime(2026, 12, 4, 9, 0, 0, 123456, tzinfo=UTC)
metadata = MetaData()
things = Table(
    "prepared_things",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("state", String(20), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("count", Integer, nullable=True),
)
_INSERT = Prepared(insert(things))
_MARK = Prepared(
    update(things)
    .where(things.c.name == bindparam("b_name"))
    .values(state="done", at=bindparam("b_at", type_=things.c.at.type), count=None)
    .returning(things.c.name, things.c.at)
)


async def _database(database_url: Callable[[str], str]) -> Database:
    db = Database(await asyncio.to_thread(database_url, "prepared"))
    async with db.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    return db


def _rows(n: int, prefix: str) -> list[dict[str, Any]]:
    return [
        {"name": f"{prefix}{i}", "state": "new", "at": T0 + timedelta(hours=i), "count": i}
        for i in range(n)
    ]


async def test_the_driver_writes_what_sqlalchemy_writes(
    database_url: Callable[[str], str],
) -> None:
    db = await _database(database_url)
    try:

        def prepared(connection: Connection) -> list[tuple[Any, ...]]:
            _INSERT.run_many(connection, _rows(3, "p"))
            return _MARK.run(connection, {"b_name": "p1", "b_at": T0 + timedelta(days=1)})

        returned = await db.run(prepared)
        async with db.transaction() as session:
            await session.execute(insert(things), _rows(3, "c"))
            await session.execute(
                update(things)
                .where(things.c.name == "c1")
                .values(state="done", at=T0 + timedelta(days=1), count=None)
            )
        assert returned == [("p1", T0 + timedelta(days=1))]
        async with db.transaction() as session:
            rows = (await session.execute(select(things).order_by(things.c.name))).all()
            stored = await session.execute(
                text("SELECT name, CAST(at AS TEXT) FROM prepared_things ORDER BY name")
            )
            as_text = dict(stored.tuples().all())
        by_name = {row.name: row for row in rows}
        for i in range(3):
            mine, theirs = by_name[f"p{i}"], by_name[f"c{i}"]
            assert (mine.state, mine.at, mine.count) == (theirs.state, theirs.at, theirs.count)
            assert as_text[f"p{i}"] == as_text[f"c{i}"]  # the very text in the file
        assert by_name["p1"].state == "done" and by_name["p1"].count is None
    finally:
        await db.dispose()


async def test_a_run_that_fails_leaves_nothing(database_url: Callable[[str], str]) -> None:
    db = await _database(database_url)
    try:

        def half(connection: Connection) -> None:
            _INSERT.run_many(connection, _rows(2, "x"))
            raise RuntimeError("stop")

        with pytest.raises(RuntimeError):
            await db.run(half)
        async with db.transaction() as session:
            assert (await session.execute(select(things))).all() == []
    finally:
        await db.dispose()


async def test_a_step_in_one_hand_over_may_still_wait(
    database_url: Callable[[str], str],
) -> None:
    db = await _database(database_url)
    later: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.01, later.set_result, "answered")
    try:

        async def step(session: AsyncSession) -> str:
            await session.execute(insert(things), _rows(1, "w"))
            await asyncio.sleep(0)
            answer = await later  # a future the event loop completes
            name = await session.scalar(select(things.c.name))
            return f"{answer} {name}"

        async with db.transaction() as session:
            assert await in_one_hand_over(session, step) == "answered w0"

        async def failing(session: AsyncSession) -> None:
            await session.execute(insert(things), _rows(1, "f"))
            await asyncio.sleep(0.001)
            raise ValueError("no")

        with pytest.raises(ValueError):
            async with db.transaction() as session:
                await in_one_hand_over(session, failing)
        async with db.transaction() as session:
            names = (await session.execute(select(things.c.name))).scalars().all()
        assert names == ["w0"]
    finally:
        await db.dispose()


async def test_a_statement_marked_hot_runs_on_the_driver_in_a_hand_over_with_the_same_result(
    database_url: Callable[[str], str],
) -> None:
    """``conflicts.insert_or_skip`` (marked :func:`hot`) through a ``CoreSession``: the
    row written is the one the unmarked statement writes through SQLAlchemy, RETURNING
    read by column name when inserted, nothing returned on a conflict."""
    db = await _database(database_url)
    try:
        dialect = db.engine.dialect.name
        marked = conflicts._insert_or_skip(dialect, things, ("name", "at"))
        unmarked = conflicts.dialect_insert(dialect, things).on_conflict_do_nothing()
        unmarked = unmarked.returning(things.c.name, things.c.at)
        assert hot_prepared(marked) is not None and hot_prepared(unmarked) is None
        row = {"state": "new", "at": T0, "count": 7}

        kinds = set()

        async def step(session: AsyncSession) -> list[Any]:
            results = []
            for statement, name in ((marked, "h"), (unmarked, "u")):
                for _twice in range(2):
                    result = await session.execute(statement, {**row, "name": name})
                    kinds.add((name, type(result).__name__))
                    first = result.first()
                    results.append(None if first is None else (first.name, first._mapping["at"]))
            return results

        async with db.transaction() as session:
            results = await in_one_hand_over(session, step)
        assert results == [("h", T0), None, ("u", T0), None]
        assert kinds == {("h", "IteratorResult"), ("u", "CursorResult")}  # the driver's way
        async with db.transaction() as session:
            rows = (await session.execute(select(things).order_by(things.c.name))).all()
            stored = await session.execute(
                text("SELECT name, CAST(at AS TEXT) FROM prepared_things ORDER BY name")
            )
            as_text = dict(stored.tuples().all())
        assert [tuple(r)[1:] for r in rows] == [("new", T0, 7), ("new", T0, 7)]
        assert as_text["h"] == as_text["u"]
    finally:
        await db.dispose()

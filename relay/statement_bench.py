"""``relay bench statements``: what one SQLite statement costs the services, against the
least it can cost (issue 18).

The same row (a text key, a number, a text body, a UTC time) is inserted, in the same
transaction boundaries, by:

- ``lean``: the standard library's ``sqlite3``, one ``BEGIN IMMEDIATE`` ... ``COMMIT``;
- ``sync``: SQLAlchemy's synchronous ``Session`` over ``sqlite3`` (the ORM's own cost);
- ``inline``: the services' :class:`~services.runtime.database.Database`, SQLite on the
  event loop's thread (the default);
- ``aiosqlite``: the same ``Database`` on aiosqlite's worker thread (before issue 18).

Each is timed in CPU (``time.process_time``: every thread of this process, so
aiosqlite's worker counts) as µs per INSERT inside one transaction of many, and as µs per
transaction of one INSERT (BEGIN, INSERT, COMMIT), with the same pragmas as the services
(WAL, ``synchronous=NORMAL``). Each mode has a fresh file; rounds give a range.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, event, insert
from sqlalchemy.orm import Session

from services.runtime.database import SqliteDriver, UtcDateTime
from services.runtime.one_off import one_off_database

MODES = ("lean", "sync", "inline", "aiosqlite")
_metadata = MetaData()
_rows = Table(
    "bench_rows",
    _metadata,
    Column("id", Text, primary_key=True),
    Column("n", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
)
_INSERT = insert(_rows)
_LEAN_INSERT = "INSERT INTO bench_rows (id, n, body, at) VALUES (?, ?, ?, ?)"
_BODY = "x" * 200  # about an outbox row's payload


def _row(n: int) -> dict[str, Any]:
    return {"id": f"row-{n:09d}", "n": n, "body": _BODY, "at": datetime.now(UTC)}


def _cpu_us(run: Callable[[], None], count: int) -> float:
    started = time.process_time()
    run()
    return (time.process_time() - started) / count * 1e6


class _Counter:
    def __init__(self) -> None:
        self.n = 0

    def next(self) -> int:
        self.n += 1
        return self.n


def _lean(path: Path, statements: int, transactions: int) -> tuple[float, float]:
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        connection.execute(f"PRAGMA {pragma}")
    connection.execute(
        "CREATE TABLE IF NOT EXISTS bench_rows (id TEXT PRIMARY KEY, n INTEGER NOT NULL, "
        "body TEXT NOT NULL, at DATETIME NOT NULL)"
    )
    counter = _Counter()

    def values() -> tuple[Any, ...]:
        n = counter.next()
        # SQLAlchemy stores a datetime as this text on SQLite.
        at = datetime.now(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        return (f"row-{n:09d}", n, _BODY, at)

    def many() -> None:
        connection.execute("BEGIN IMMEDIATE")
        for _ in range(statements):
            connection.execute(_LEAN_INSERT, values())
        connection.execute("COMMIT")

    def ones() -> None:
        for _ in range(transactions):
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(_LEAN_INSERT, values())
            connection.execute("COMMIT")

    try:
        return _cpu_us(many, statements), _cpu_us(ones, transactions)
    finally:
        connection.close()


def _sync(path: Path, statements: int, transactions: int) -> tuple[float, float]:
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    _metadata.create_all(engine)
    counter = _Counter()

    def many() -> None:
        with Session(engine) as session, session.begin():
            for _ in range(statements):
                session.execute(_INSERT, _row(counter.next()))

    def ones() -> None:
        for _ in range(transactions):
            with Session(engine) as session, session.begin():
                session.execute(_INSERT, _row(counter.next()))

    try:
        return _cpu_us(many, statements), _cpu_us(ones, transactions)
    finally:
        engine.dispose()


async def _database(
    path: Path, driver: SqliteDriver, statements: int, transactions: int
) -> tuple[float, float]:
    async with one_off_database(f"sqlite+aiosqlite:///{path}", sqlite_driver=driver) as db:
        async with db.engine.begin() as connection:
            await connection.run_sync(_metadata.create_all)
        counter = _Counter()

        async def many() -> None:
            async with db.transaction() as session:
                for _ in range(statements):
                    await session.execute(_INSERT, _row(counter.next()))

        async def ones() -> None:
            for _ in range(transactions):
                async with db.transaction() as session:
                    await session.execute(_INSERT, _row(counter.next()))

        started = time.process_time()
        await many()
        per_statement = (time.process_time() - started) / statements * 1e6
        started = time.process_time()
        await ones()
        per_transaction = (time.process_time() - started) / transactions * 1e6
        return per_statement, per_transaction


def _one(mode: str, path: Path, statements: int, transactions: int) -> tuple[float, float]:
    if mode == "lean":
        return _lean(path, statements, transactions)
    if mode == "sync":
        return _sync(path, statements, transactions)
    driver: SqliteDriver = "inline" if mode == "inline" else "aiosqlite"
    return asyncio.run(_database(path, driver, statements, transactions))


def run_statements(
    statements: int = 2000, transactions: int = 500, rounds: int = 3
) -> dict[str, Any]:
    """µs of CPU per INSERT in a transaction of ``statements``, and per transaction of
    one INSERT (``transactions`` of them), for each mode, ``rounds`` times over."""
    figures: dict[str, Any] = {
        "statements": statements,
        "transactions": transactions,
        "rounds": rounds,
        "sqlite": sqlite3.sqlite_version,
        "modes": {m: {"statement_us": [], "transaction_us": []} for m in MODES},
    }
    with tempfile.TemporaryDirectory(prefix="relay-statements-") as tmp:
        # A warm-up round (imports, compiled statements) is not counted.
        for round_ in range(rounds + 1):
            for mode in MODES:
                path = Path(tmp) / f"{mode}-{round_}.db"
                per_statement, per_transaction = _one(mode, path, statements, transactions)
                if round_:
                    figures["modes"][mode]["statement_us"].append(round(per_statement, 1))
                    figures["modes"][mode]["transaction_us"].append(round(per_transaction, 1))
    return figures

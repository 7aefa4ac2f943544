"""The async engine and transactions. SQLite gets WAL and ``BEGIN IMMEDIATE`` so that
concurrent writers queue instead of failing. SQLite runs on the event loop's thread
(:mod:`services.runtime.sqlite_inline`) unless ``RELAY_SQLITE_DRIVER=aiosqlite`` asks for
aiosqlite's worker thread (the path before issue 18, kept to measure against); URLs may
name either driver (``sqlite+aiosqlite://`` is what the settings write)."""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar, cast, get_args

from sqlalchemy import DateTime, event
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util.concurrency import greenlet_spawn

from services.runtime import sqlite_inline
from services.runtime.deferred_writes import flush_deferred
from services.runtime.writer_turns import WriterTurns

SqliteDriver = Literal["inline", "aiosqlite"]
SQLITE_DRIVER_ENV = "RELAY_SQLITE_DRIVER"
T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


Clock = Callable[[], datetime]  # utcnow, or a test's clock


class _LastBound:
    """A bind processor that remembers the last value it was given and what it made of
    it (a clock reading is one ``datetime`` object, bound by several statements of a
    transaction). By identity: a ``datetime`` never changes, and the one remembered is
    kept alive, so no other object can take its place."""

    def __init__(self, process: Callable[[Any], Any]) -> None:
        self._process = process
        self._last: tuple[Any, Any] = (None, None)

    def __call__(self, value: Any) -> Any:
        last = self._last  # one read and one write of a tuple: safe across threads
        if value is last[0]:
            return last[1]
        bound = self._process(value)
        self._last = (value, bound)
        return bound


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True
    # Every column's processor, per dialect and implementation (this type takes no
    # arguments, so they are all the same): SQLite's formats a text field by field,
    # about 4 µs, and the notifier's outcome transaction binds one clock reading four
    # times, in three statements and two tables.
    _bound: weakref.WeakKeyDictionary[Dialect, dict[type[Any], _LastBound | None]] = (
        weakref.WeakKeyDictionary()
    )

    def bind_processor(self, dialect: Dialect) -> _LastBound | None:
        kept = self._bound.setdefault(dialect, {})
        implementation = type(self.impl_instance)
        if implementation not in kept:
            process = super().bind_processor(dialect)
            kept[implementation] = None if process is None else _LastBound(process)
        return kept[implementation]

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def configured_sqlite_driver() -> SqliteDriver:
    value = os.environ.get(SQLITE_DRIVER_ENV, "inline")
    if value in get_args(SqliteDriver):
        return cast(SqliteDriver, value)
    raise ValueError(f"{SQLITE_DRIVER_ENV}={value!r}: give one of {get_args(SqliteDriver)}")


def create_engine(
    url: str, sqlite_driver: SqliteDriver | None = None, **kwargs: Any
) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        if (sqlite_driver or configured_sqlite_driver()) == "inline":
            sqlite_inline.register()
            # Its pragmas and BEGIN IMMEDIATE are the dialect's own (cooperative waits).
            inline = parsed.set(drivername=f"sqlite+{sqlite_inline.DRIVER}")
            return create_async_engine(inline, **kwargs)
        threaded = parsed.set(drivername="sqlite+aiosqlite")
        engine = create_async_engine(threaded, connect_args={"timeout": 30}, **kwargs)
        _sqlite_pragmas(engine)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _in_transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    with engine.begin() as connection:  # commits, or rolls back on an exception
        return work(connection)


def _commit_and_close(session: Session) -> None:
    try:
        session.commit()
    finally:
        session.close()


class Database:
    """One service's database: an engine and short transactions.

    On SQLite every transaction takes the write lock (``BEGIN IMMEDIATE``), so a
    process's transactions take turns in the process first (:class:`WriterTurns`;
    ``urgent`` ones before the others): SQLite's own busy handler makes a waiter sleep up
    to 100 ms between tries, which under load costs more than the transactions
    themselves. Other processes on the same file are waited for with ``asyncio.sleep``
    between tries (on aiosqlite's thread, SQLite's busy timeout). On
    PostgreSQL transactions run side by side and ``urgent`` changes nothing. Writes a
    handler deferred (:mod:`services.runtime.deferred_writes`) go just before the
    commit, in the same transaction."""

    def __init__(self, url: str, sqlite_driver: SqliteDriver | None = None, **kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, sqlite_driver, **kwargs)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._turns = WriterTurns() if self.engine.dialect.name == "sqlite" else None
        self._inline = self.engine.dialect.driver == sqlite_inline.DRIVER
        self._holder: asyncio.Task[Any] | None = None

    @asynccontextmanager
    async def transaction(self, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        if self._turns is None:
            async with self._sessions.begin() as session:
                yield session
                await flush_deferred(session)
            return
        async with self._turn(urgent):
            if self._inline:
                async with self._on_the_loop() as session:
                    yield session
            else:
                async with self._sessions.begin() as session:
                    yield session
                    await flush_deferred(session)

    async def run(self, work: Callable[[Connection], T], urgent: bool = False) -> T:
        """``work`` in a transaction of its own, on a connection's synchronous side
        (Core statements, :mod:`services.runtime.prepared`); what it returns. On SQLite on
        the loop's thread the whole transaction (begin, ``work``, commit) is one
        hand-over to a greenlet, with no ``Session``: for a short transaction on a hot
        path, where the session's life cycle and each ``run_sync`` cost more than the
        statements. Elsewhere ``work`` runs as :meth:`AsyncConnection.run_sync`."""
        if self._turns is None:
            async with self.engine.begin() as connection:
                return await connection.run_sync(work)
        # The turn taken and given back here rather than by ``_turn``: an async context
        # manager costs a sixth of a short transaction (its generator, the loop's hooks).
        await self._take_turn(urgent)
        try:
            if self._inline:
                return await greenlet_spawn(_in_transaction, self.engine.sync_engine, work)
            async with self.engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            self._give_turn()

    @asynccontextmanager
    async def _turn(self, urgent: bool) -> AsyncIterator[None]:
        """This process's turn at SQLite's one writer."""
        await self._take_turn(urgent)
        try:
            yield
        finally:
            self._give_turn()

    async def _take_turn(self, urgent: bool) -> None:
        assert self._turns is not None
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            # It would wait for itself for ever (SQLite has one writer at a time).
            raise RuntimeError("a transaction opened inside another on the same database")
        await self._turns.acquire(urgent)
        self._holder = task

    def _give_turn(self) -> None:
        assert self._turns is not None
        self._holder = None
        self._turns.release()

    @asynccontextmanager
    async def _on_the_loop(self) -> AsyncIterator[AsyncSession]:
        """A transaction on SQLite on the loop's thread, ended in one step. SQLAlchemy's
        ``sessionmaker.begin()`` ends a transaction in two tasks of their own (shielded,
        so that a close waiting on a server is not abandoned when the caller is
        cancelled), two greenlets and four turns of the loop, about a quarter of a short
        transaction's CPU; here commit and close never wait on anything but the file."""
        session = self._sessions()
        try:
            yield session  # the first statement begins the transaction (BEGIN IMMEDIATE)
        except BaseException:
            await session.run_sync(Session.close)  # which rolls back
            raise
        try:
            await flush_deferred(session)
        except BaseException:
            await session.run_sync(Session.close)
            raise
        await session.run_sync(_commit_and_close)

    @property
    def urgent_waiting(self) -> bool:
        """An urgent transaction waits for this process's turn at SQLite's writer."""
        return self._turns is not None and self._turns.urgent_waiting

    async def dispose(self) -> None:
        await self.engine.dispose()

"""The async engine and transactions. SQLite gets WAL and ``BEGIN IMMEDIATE`` so that
concurrent writers queue on the busy timeout instead of failing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.types import TypeDecorator

from services.runtime.writer_turns import WriterTurns


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

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


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
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


class Database:
    """One service's database: an engine and short transactions.

    On SQLite every transaction takes the write lock (``BEGIN IMMEDIATE``), so a
    process's transactions take turns in the process first (:class:`WriterTurns`;
    ``urgent`` ones before the others): SQLite's own busy handler makes a waiter sleep up
    to 100 ms between tries, which under load costs more than the transactions
    themselves. Other processes on the same file still wait on the busy timeout. On
    PostgreSQL transactions run side by side and ``urgent`` changes nothing."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **kwargs)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._turns = WriterTurns() if self.engine.dialect.name == "sqlite" else None
        self._holder: asyncio.Task[Any] | None = None

    @asynccontextmanager
    async def transaction(self, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        if self._turns is None:
            async with self._sessions.begin() as session:
                yield session
            return
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            # It would wait for itself for ever (SQLite has one writer at a time).
            raise RuntimeError("a transaction opened inside another on the same database")
        await self._turns.acquire(urgent)
        self._holder = task
        try:
            async with self._sessions.begin() as session:
                yield session
        finally:
            self._holder = None
            self._turns.release()

    @property
    def urgent_waiting(self) -> bool:
        """An urgent transaction waits for this process's turn at SQLite's writer."""
        return self._turns is not None and self._turns.urgent_waiting

    async def dispose(self) -> None:
        await self.engine.dispose()

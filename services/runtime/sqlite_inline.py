"""SQLite on the event loop's own thread: the ``sqlite+relayinline`` dialect.

SQLAlchemy's aiosqlite dialect hands every statement to aiosqlite's worker thread and
back (a queue put, a wake-up of the thread, then the loop's self-pipe to resume), three
to four times per statement and more per transaction. A SQLite statement here costs a
few microseconds; each hand-off costs more than that, so about three quarters of a
statement's CPU went on hand-offs (issue 18). This dialect is the standard ``sqlite3``
driver declared async: SQLAlchemy's async engine runs its synchronous code in a greenlet
on the loop's thread, so ``sqlite3`` is called right there, and every repository keeps its
``AsyncSession`` code. One writer per process is already queued in the process
(:class:`~services.runtime.writer_turns.WriterTurns`), so nothing here needs a thread.

Two things a thread gave for free are made explicit:

- **Waiting for another process's lock.** SQLite's busy handler sleeps inside the call,
  which here would stop the whole loop (Kafka heartbeats, SMTP, HTTP). The busy timeout
  is 0 and a statement that meets a lock (``BEGIN IMMEDIATE`` while a CLI or another copy
  writes, in WAL mode almost only there) is tried again after an ``asyncio.sleep``, for up
  to :data:`BUSY_WAIT_S` as the old busy timeout did. A statement refused with
  ``SQLITE_BUSY`` had no effect, so trying it again is safe (a ``COMMIT`` too: the
  transaction stays open; not an ``executemany``, which may have stored some rows).
- **Letting the loop breathe.** A transaction no longer gives the loop a turn at each
  statement, so a long one (a consumer batch of a hundred messages) would hold it for its
  whole length, and the notifier's urgent turn (:attr:`Database.urgent_waiting`) could not
  even ask. A statement run more than :data:`SLICE_S` after the loop's last turn in this
  transaction gives it one first, of :data:`TURN_PASSES` passes, enough for a woken
  task's steps to run one after another.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL
from sqlalchemy.engine.interfaces import DBAPIConnection, DBAPICursor, ExecutionContext
from sqlalchemy.util.concurrency import await_, in_greenlet

DRIVER = "relayinline"
BUSY_WAIT_S = 30.0  # as long as the thread path's busy timeout
SLICE_S = 0.005  # the longest a transaction's statements keep the loop to themselves
# A turn given is several passes of the loop, not one ``sleep(0)``: a task the loop wakes
# for I/O meanwhile (an SMTP reply) needs more than one pass to go on (the socket's
# callback, then the task's step, each scheduled by the one before), and after a single
# ``sleep(0)`` the transaction resumed at the next pass, so each of those steps waited a
# whole slice: the notifier's delivery crawled while its consumer stored a backlog. Passes,
# not a short timer: uvloop's timers count whole milliseconds, so a 0.2 ms timer there is
# one pass again.
TURN_PASSES = 8
# Pauses between tries on a lock, about SQLite's own busy handler's steps.
_PAUSES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05)

T = TypeVar("T")


class LoopCursor(sqlite3.Cursor):
    async def _async_soft_close(self) -> None:
        """SQLAlchemy's async results call this to let go of a driver cursor whose rows
        they already hold. A ``sqlite3`` cursor's rows are read from SQLite as the result
        is read, on this same thread (as with a synchronous Session), so there is nothing
        to let go of."""


class LoopConnection(sqlite3.Connection):
    """A ``sqlite3`` connection whose cursors suit the async results, and which
    remembers when its transaction last let the loop run (a plain ``sqlite3.Connection``
    takes no attributes)."""

    turn_at: float = 0.0

    def cursor(self, factory: Any = LoopCursor) -> Any:
        return super().cursor(factory)


def _busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return "locked" in str(exc)
    return bool(code & 0xFF == sqlite3.SQLITE_BUSY)


def _pause(seconds: float) -> None:
    if in_greenlet():
        await_(asyncio.sleep(seconds))
    else:  # a synchronous caller (none in the services) has no loop to give a turn to
        time.sleep(seconds)


def retry_busy(call: Callable[[], T], first: sqlite3.OperationalError) -> T:
    """``call`` again after ``first`` (a refusal), pausing cooperatively between tries,
    until it succeeds, fails otherwise, or :data:`BUSY_WAIT_S` have passed."""
    if not _busy(first):
        raise first
    deadline = time.monotonic() + BUSY_WAIT_S
    tries = 0
    while True:
        _pause(_PAUSES[min(tries, len(_PAUSES) - 1)])
        tries += 1
        try:
            return call()
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or time.monotonic() >= deadline:
                raise


def _execute(connection: DBAPIConnection, sql: str) -> None:
    try:
        connection.execute(sql)
    except sqlite3.OperationalError as exc:
        retry_busy(lambda: connection.execute(sql), exc)


async def _nothing() -> None:
    pass


async def _turn() -> None:
    for _ in range(TURN_PASSES):
        await asyncio.sleep(0)


def _await_once(connection: Any) -> None:
    """Each statement awaits once: SQLAlchemy's ``AsyncConnection.execute`` refuses a
    driver that never awaits (``AwaitRequired``). A coroutine that returns at once costs
    about 1 µs; past :data:`SLICE_S` since the loop's last turn, the await gives it one."""
    if not in_greenlet():
        return
    if time.monotonic() - connection.turn_at > SLICE_S:
        await_(_turn())
        connection.turn_at = time.monotonic()
    else:
        await_(_nothing())


class InlineSQLiteDialect(SQLiteDialect_pysqlite):
    driver = DRIVER
    is_async = True  # its work runs in the async engine's greenlets, on the loop's thread
    supports_statement_cache = True

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        if cls._is_url_file_db(url):
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool  # one connection holds a memory database

    def create_connect_args(self, url: URL) -> Any:
        args, options = super().create_connect_args(url)
        # isolation_level None: sqlite3 opens no transaction of its own; do_begin does.
        options.update(factory=LoopConnection, timeout=0, isolation_level=None)
        return args, options

    def on_connect(self) -> Callable[[DBAPIConnection], None]:
        functions = super().on_connect()

        def connect(connection: DBAPIConnection) -> None:
            functions(connection)
            for pragma in (
                "PRAGMA busy_timeout=0",  # waits are cooperative (retry_busy)
                "PRAGMA journal_mode=WAL",
                "PRAGMA synchronous=NORMAL",
                "PRAGMA foreign_keys=ON",
            ):
                _execute(connection, pragma)

        return connect

    def do_begin(self, dbapi_connection: DBAPIConnection) -> None:
        # Every transaction takes the write lock at once, as on the thread path: a read
        # that later writes cannot then fail to upgrade its lock.
        _execute(dbapi_connection, "BEGIN IMMEDIATE")
        dbapi_connection.turn_at = time.monotonic()  # type: ignore[attr-defined]

    def do_commit(self, dbapi_connection: DBAPIConnection) -> None:
        try:
            dbapi_connection.commit()
        except sqlite3.OperationalError as exc:
            retry_busy(dbapi_connection.commit, exc)

    def do_execute(
        self,
        cursor: DBAPICursor,
        statement: str,
        parameters: Any,
        context: ExecutionContext | None = None,
    ) -> None:
        _await_once(cursor.connection)  # type: ignore[attr-defined]
        try:
            cursor.execute(statement, parameters)
        except sqlite3.OperationalError as exc:
            retry_busy(lambda: cursor.execute(statement, parameters), exc)

    def do_execute_no_params(
        self, cursor: DBAPICursor, statement: str, context: ExecutionContext | None = None
    ) -> None:
        _await_once(cursor.connection)  # type: ignore[attr-defined]
        try:
            cursor.execute(statement)
        except sqlite3.OperationalError as exc:
            retry_busy(lambda: cursor.execute(statement), exc)

    def do_executemany(
        self,
        cursor: DBAPICursor,
        statement: str,
        parameters: Any,
        context: ExecutionContext | None = None,
    ) -> None:
        # Not tried again on a lock: rows before the refused one may be in. Inside a
        # transaction (BEGIN IMMEDIATE holds the write lock) no lock is met anyway.
        _await_once(cursor.connection)  # type: ignore[attr-defined]
        cursor.executemany(statement, parameters)


def register() -> None:
    """Make ``sqlite+relayinline://`` URLs known to SQLAlchemy (idempotent)."""
    registry.register(f"sqlite.{DRIVER}", __name__, InlineSQLiteDialect.__name__)

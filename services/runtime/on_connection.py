"""Statements run on the session's Core ``Connection``, on its synchronous side (issue 18).

``AsyncSession.execute`` takes each statement through the ORM's execute path and wraps
its result for async reading; for a Core statement (a table's SELECT, INSERT or UPDATE,
no mapped classes anywhere in this project) neither is needed. Here the statement runs
on the session's own connection, in its transaction, in one hand-over to the synchronous
side (``run_sync``), and comes back as plain rows: about half the CPU of
``AsyncSession.execute`` on SQLite (relay bench hops). Several statements that belong
together go in one hand-over with :func:`run`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Executable, Row
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

P = ParamSpec("P")
T = TypeVar("T")
Params = dict[str, Any] | Sequence[dict[str, Any]] | None


async def run(
    session: AsyncSession,
    work: Callable[Concatenate[Connection, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """``work(connection, …)`` on ``session``'s connection, in its transaction."""

    def on_connection(sync: Session) -> T:
        return work(sync.connection(), *args, **kwargs)

    return await session.run_sync(on_connection)


def _all(connection: Connection, statement: Executable, params: Params) -> list[Row[Any]]:
    return list(connection.execute(statement, params).all())


def _first(connection: Connection, statement: Executable, params: Params) -> Row[Any] | None:
    return connection.execute(statement, params).first()


def _scalar(connection: Connection, statement: Executable, params: Params) -> Any:
    return connection.execute(statement, params).scalar()


def _rowcount(connection: Connection, statement: Executable, params: Params) -> int:
    return int(connection.execute(statement, params).rowcount)


async def all_rows(
    session: AsyncSession, statement: Executable, params: Params = None
) -> list[Row[Any]]:
    return await run(session, _all, statement, params)


async def first_row(
    session: AsyncSession, statement: Executable, params: Params = None
) -> Row[Any] | None:
    return await run(session, _first, statement, params)


async def scalar(session: AsyncSession, statement: Executable, params: Params = None) -> Any:
    """The first column of the first row, or None."""
    return await run(session, _scalar, statement, params)


async def execute(session: AsyncSession, statement: Executable, params: Params = None) -> int:
    """A statement whose rows nobody reads (an INSERT, an UPDATE); the rows it matched
    (a DBAPI's ``rowcount``; -1 where the driver does not tell, as for an executemany)."""
    return await run(session, _rowcount, statement, params)

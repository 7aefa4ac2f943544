"""A handler's statements in one hand-over to the session's synchronous side (issue 18).

``AsyncSession`` runs each call (``execute``, ``scalar``) in a greenlet of its own, then
through the ORM ``Session``'s execute, for Core statements that need neither (the
notifier's consumer of ``alerts-requested``, five to seven statements a message, cost a
fifth to a third less without them). :func:`in_one_hand_over` runs an async step (a
handler over its store) inside one ``run_sync``: the step gets a :class:`CoreSession`,
which has the ``AsyncSession`` calls the repositories use and runs each at once on the
session's ``Connection``, already in the greenlet. The step's code,
its port and the in-memory fakes of the unit tests stay as they are (async); a step
that truly waits on something (a lock, a sleep) still waits, its awaitable handed out
to the event loop and the answer back in.

The same path serves PostgreSQL: asyncpg's adapter awaits each statement from inside
the greenlet, as it does under ``AsyncSession``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator, Mapping
from typing import Any, TypeVar, cast

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.util.concurrency import await_

from services.runtime import prepared

T = TypeVar("T")


class CoreSession:
    """What a repository asks of an ``AsyncSession``, answered on the synchronous
    ``Session``'s connection, without a greenlet each: only inside
    :func:`in_one_hand_over`. Core statements only (the services map no ORM classes)."""

    def __init__(self, sync_session: Session) -> None:
        self.sync_session = sync_session

    @property
    def info(self) -> dict[Any, Any]:
        return self.sync_session.info

    def get_bind(self) -> Engine:
        return cast(Engine, self.sync_session.get_bind())

    async def execute(self, statement: Any, params: Any = None) -> Any:
        connection = self.sync_session.connection()
        if isinstance(params, Mapping):
            # A statement built once and marked hot runs on the driver (prepared.py).
            return prepared.execute(connection, statement, params)
        return connection.execute(statement, params)

    async def scalar(self, statement: Any, params: Any = None) -> Any:
        return self.sync_session.connection().scalar(statement, params)

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(self.sync_session, *args, **kwargs)


async def in_one_hand_over(
    session: AsyncSession, step: Callable[[AsyncSession], Coroutine[Any, Any, T]]
) -> T:
    """``step`` run with a :class:`CoreSession` over ``session``, in one hand-over to
    its synchronous side; what it returns."""
    return await session.run_sync(_drive, step)


class _Forward:
    """Hands what the step's coroutine yielded (a future it waits on) to the task
    running the event loop's side, and its resumption back."""

    def __init__(self, yielded: Any) -> None:
        self.yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield self.yielded)


def _drive(sync_session: Session, step: Callable[[AsyncSession], Coroutine[Any, Any, T]]) -> T:
    coroutine = step(cast(AsyncSession, CoreSession(sync_session)))
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            yielded = coroutine.throw(error) if error is not None else coroutine.send(value)
        except StopIteration as done:
            return cast(T, done.value)
        try:
            value, error = await_(_Forward(yielded)), None
        except BaseException as exc:  # cancelled meanwhile, say: the step hears it
            value, error = None, exc

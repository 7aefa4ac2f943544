"""Writes a handler leaves to the end of its transaction (issue 18).

A consumer batch runs its handlers one message after another in one transaction; a
handler whose writes commute with the others' may hand its rows to a buffer instead of
running a statement per message, and the buffer writes each table's rows in one
``executemany`` when :meth:`Database.transaction` is about to commit (so a batch of 100
statuses costs three statements, not 400). A handler that reads what a buffer may hold
flushes it first (:func:`flush_deferred`). Nothing deferred outlives its transaction: a
failure rolls the buffer's transaction back with everything else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

_KEY = "relay.deferred_writes"


class DeferredWrites(Protocol):
    async def flush(self, session: AsyncSession) -> None:
        """Write what is held, in ``session``'s transaction, and hold nothing after."""


W = TypeVar("W", bound=DeferredWrites)


def deferred(session: AsyncSession, factory: Callable[[], W]) -> W:
    """The buffer ``factory`` makes, one per transaction (``session``)."""
    buffers: dict[object, DeferredWrites] = session.info.setdefault(_KEY, {})
    buffer = buffers.get(factory)
    if buffer is None:
        buffer = buffers[factory] = factory()
    return buffer  # type: ignore[return-value]  # made by this factory


async def flush_deferred(session: AsyncSession) -> None:
    """Write every buffer of ``session``'s transaction (before it commits, or before a
    read of what they may hold)."""
    buffers: dict[object, DeferredWrites] | None = session.info.get(_KEY)
    if buffers:
        for buffer in list(buffers.values()):
            await buffer.flush(session)

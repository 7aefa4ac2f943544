"""A database for one command's work (a CLI command, a benchmark step): opened, used,
disposed, outside any service's lifespan.

A service opens its database once, in its lifespan (``ServiceRuntime``); a command opens
one for a single piece of work, and disposes of the engine before its event loop ends:
the pool's connections belong to that loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from services.runtime.database import Database

T = TypeVar("T")


@asynccontextmanager
async def one_off_database(url: str, **options: Any) -> AsyncIterator[Database]:
    """The database at ``url`` (``options`` as :class:`Database` takes them), disposed on
    the way out."""
    db = Database(url, **options)
    try:
        yield db
    finally:
        await db.dispose()


def run_with_database(url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    """``work`` against the database at ``url``, in an event loop of its own (a command's
    whole run); its result, or its exception after the engine is disposed."""

    async def run() -> T:
        async with one_off_database(url) as db:
            return await work(db)

    return asyncio.run(run())

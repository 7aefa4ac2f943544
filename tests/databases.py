"""Fresh PostgreSQL databases for the tests, made ahead of need and dropped behind.

``CREATE DATABASE`` and ``DROP DATABASE`` each take a few tenths of a second (a copy of
template1 written and synced), and a test with the ``settings`` fixture needs four. A
thread of its own makes a few empty databases before they are asked for and drops used
ones after their test, so the tests wait for neither. Every database is still new,
empty, made from template1 and given to one test only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import asyncpg

from services.runtime.settings import async_url

_T = TypeVar("_T")


class DatabasePool:
    def __init__(self, admin_url: str, ahead: int = 6) -> None:
        url = async_url(admin_url)
        self._dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        self._base = url.rsplit("/", 1)[0]
        self._ahead = ahead
        self._unused: set[str] = set()  # made (or being made), not yet handed out
        self._failures: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="test-databases", daemon=True
        )
        self._thread.start()
        self._run(self._start())

    def take(self) -> str:
        """The name of a new, empty database, for one test."""
        return self._run(self._take())

    def url(self, db_name: str) -> str:
        return f"{self._base}/{db_name}"

    def drop_later(self, db_name: str) -> None:
        self._loop.call_soon_threadsafe(self._doomed.put_nowait, db_name)

    def close(self) -> None:
        """Drop every database made, used or not; stop the thread."""
        try:
            self._run(self._stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            if not self._thread.is_alive():
                self._loop.close()

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _start(self) -> None:
        self._ready: asyncio.Queue[str] = asyncio.Queue(maxsize=self._ahead)
        self._doomed: asyncio.Queue[str | None] = asyncio.Queue()
        self._maker_conn = await asyncpg.connect(self._dsn)
        self._dropper_conn = await asyncpg.connect(self._dsn)
        self._maker = asyncio.create_task(self._make_ahead())
        self._dropper = asyncio.create_task(self._drop_behind())

    async def _make_ahead(self) -> None:
        while True:
            db_name = f"t_{uuid.uuid4().hex[:16]}"
            self._unused.add(db_name)
            await self._maker_conn.execute(f'CREATE DATABASE "{db_name}"')
            await self._ready.put(db_name)

    async def _drop_behind(self) -> None:
        while (db_name := await self._doomed.get()) is not None:
            try:
                await self._drop(db_name)
            except Exception as exc:  # reported when the session ends
                self._failures.append(f"{db_name}: {exc!r}")

    async def _drop(self, db_name: str) -> None:
        await self._dropper_conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')

    async def _take(self) -> str:
        get = asyncio.ensure_future(self._ready.get())
        await asyncio.wait({get, self._maker}, return_when=asyncio.FIRST_COMPLETED)
        if not get.done():
            get.cancel()
            self._maker.result()  # the maker failed: raise why
            raise RuntimeError("the database maker stopped")
        db_name = get.result()
        self._unused.discard(db_name)
        return db_name

    async def _stop(self) -> None:
        self._maker.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # take() raised it
            await self._maker
        self._doomed.put_nowait(None)
        try:
            await self._dropper
            for db_name in sorted(self._unused):  # IF EXISTS: one may be half made
                await self._drop(db_name)
        finally:
            for conn in (self._maker_conn, self._dropper_conn):
                await conn.close(timeout=10)
        if self._failures:
            raise RuntimeError("test databases not dropped: " + "; ".join(self._failures))

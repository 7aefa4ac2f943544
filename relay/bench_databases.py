"""A benchmark's fresh database: a SQLite file, or a new PostgreSQL database dropped on
the way out, and how big it grew."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from services.runtime.database import Database
from services.runtime.settings import async_url


async def _admin(server_url: str, statement: str) -> None:
    import asyncpg

    dsn = async_url(server_url).replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def temporary_database(workdir: Path, server_url: str | None) -> Iterator[tuple[str, str]]:
    """``(kind, url)`` of a fresh router database: SQLite in ``workdir``, or a new
    database on the PostgreSQL server of ``server_url``, dropped on the way out."""
    if not server_url or not server_url.startswith("postgres"):
        yield "sqlite", f"sqlite+aiosqlite:///{workdir / 'router.db'}"
        return
    name = f"relay_bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        yield "postgresql", async_url(server_url.rsplit("/", 1)[0] + "/" + name)
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def postgres_bytes(db: Database) -> int:
    async with db.transaction() as session:
        size = await session.scalar(text("SELECT pg_database_size(current_database())"))
    return int(size or 0)


def sqlite_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("router.db*"))

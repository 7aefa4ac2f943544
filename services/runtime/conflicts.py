"""``INSERT … ON CONFLICT DO NOTHING`` (and ``DO UPDATE``) on SQLite and PostgreSQL
(issue 18).

One statement where a SELECT first and an INSERT after were two, and without the race
between them (two copies inserting the same row at once: one waits for the other's
commit and then skips, instead of failing). Without a conflict target it skips a row
that clashes with any unique constraint, the primary key or another. Built once per
dialect and table; the row's values go as parameters.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.runtime.prepared import hot


def dialect_insert(dialect: str, table: Table) -> Any:
    """The INSERT of ``dialect`` (its ``on_conflict_…`` methods) into ``table``."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"INSERT … ON CONFLICT needs PostgreSQL or SQLite, not {dialect}")


@functools.cache
def _insert_or_skip(dialect: str, table: Table, returning: tuple[str, ...]) -> Any:
    stmt = dialect_insert(dialect, table).on_conflict_do_nothing()
    if returning:
        stmt = stmt.returning(*(table.c[name] for name in returning))
    return hot(stmt)  # a handler's step runs it on the driver (prepared.py)


def insert_or_skip(session: AsyncSession, table: Table, *returning: str) -> Any:
    """The statement for ``session``'s database; with ``returning`` column names, a row
    comes back only when it was inserted."""
    return _insert_or_skip(session.get_bind().dialect.name, table, returning)


async def inserted(session: AsyncSession, table: Table, values: dict[str, Any]) -> bool:
    """Insert ``values`` unless they clash with a row there; whether they were inserted."""
    key = next(iter(table.primary_key.columns)).name
    result = await session.execute(insert_or_skip(session, table, key), values)
    return result.first() is not None


@functools.cache
def upsert_statement(dialect: str, table: Table, names: tuple[str, ...]) -> Any:
    """:func:`upsert` for ``dialect``, built once (e.g. for a
    :class:`~services.runtime.prepared.Prepared` statement)."""
    stmt = dialect_insert(dialect, table)
    keys = [c.name for c in table.primary_key.columns]
    changes = {name: stmt.excluded[name] for name in names if name not in keys}
    return stmt.on_conflict_do_update(index_elements=keys, set_=changes)


def upsert(session: AsyncSession, table: Table, names: tuple[str, ...]) -> Any:
    """Insert a row of ``names`` (the primary key among them), or update the existing
    row's other columns of ``names``; the values go as parameters."""
    return upsert_statement(session.get_bind().dialect.name, table, names)

"""Writing an imported roll (DESIGN §5), inside the import's one transaction: each
organisation in the file loses its old roll, the new rows go in, and readers see the
old roll or the new one, never half of either.

Two ways, chosen by :func:`start_load`:

- :class:`InPlaceLoad` inserts into the roll itself. A small load deletes each
  organisation's old rows when its first new rows arrive. A load that rewrites most of
  the roll drops every index first (the unique one too) and, at the end, deletes the
  replaced organisations' old rows (those below the first new id) and builds the
  indexes again: one sorted build costs far less than millions of scattered index
  updates, and the unique index's build finds a record id given twice. On SQLite (WAL)
  readers go on seeing the old roll until commit.
- :class:`SwapLoad` (PostgreSQL, a load that rewrites most of the roll) writes into a
  new table with no index, copies in the rows of the organisations the file does not
  touch, builds the indexes there and swaps the tables just before commit. Readers keep
  the old roll, indexes and all, for the whole load: they wait only for the swap.

Both insert through each driver's bulk path (PostgreSQL binary COPY; one sqlite3
``executemany``) rather than SQLAlchemy's per-row parameter processing, which costs more
than the database at millions of rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any, Protocol

import asyncpg
from sqlalchemy import ColumnElement, Index, any_, func, inspect, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import CreateIndex

from services.router.roll_parser import ROLL_VALUE_COLUMNS
from services.router.tables import roll
from services.runtime import sqlite_inline

ROLL_INSERT_COLUMNS = ROLL_VALUE_COLUMNS  # RollParser.parse_values gives tuples in this order
ROLL_DATE_POSITIONS = tuple(
    ROLL_INSERT_COLUMNS.index(c) for c in ("date_of_birth", "valid_from", "valid_to")
)
# Drivers whose own bulk path is used (COPY; executemany without SQLAlchemy per row).
_BULK_DRIVERS = {
    ("postgresql", "asyncpg"),
    ("sqlite", "aiosqlite"),
    ("sqlite", sqlite_inline.DRIVER),
}
_SQLITE_INSERT = (
    f"INSERT INTO {roll.name} ({', '.join(ROLL_INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in ROLL_INSERT_COLUMNS)})"
)
_SQLITE_BULK_CACHE_KIB = 256 * 1024  # room for the index builds' sorts
_LOAD_TABLE = f"{roll.name}_load"


_REPEATED = "a roll record id appears twice for one organisation"


class RepeatedRecordError(Exception):
    """A roll row's (org_code, record_id) is already in the roll."""


class RollLoad(Protocol):
    async def replace(self, org_code: str) -> None:
        """``org_code``'s old roll goes (before its first new row is inserted)."""

    async def insert(self, rows: Sequence[tuple[Any, ...]]) -> None: ...

    async def finish(self) -> dict[str, int]:
        """Complete the load; the old rows removed, per organisation replaced."""


async def start_load(session: AsyncSession, bulk: bool) -> RollLoad:
    """The load for an import in ``session``'s transaction; ``bulk`` when the file
    rewrites most of the roll."""
    conn = await session.connection()
    load: SwapLoad | InPlaceLoad
    if bulk and conn.dialect.name == "postgresql" and conn.dialect.driver == "asyncpg":
        load = SwapLoad(session)
    else:
        load = InPlaceLoad(session)
    if bulk:
        await load.prepare()
    return load


async def roll_rows_below(session: AsyncSession, limit: int) -> bool:
    """Whether the roll holds fewer than ``limit`` rows, counting no further than that
    (a full count of a national roll takes longer than the answer is worth)."""
    bounded = select(roll.c.id).limit(limit).subquery()
    return int(await session.scalar(select(func.count()).select_from(bounded)) or 0) < limit


def iso_dates(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """A roll tuple with its dates as ISO text, as SQLite keeps them (the format
    SQLAlchemy's Date type writes and reads)."""
    out = list(values)
    for i in ROLL_DATE_POSITIONS:
        if out[i] is not None:
            out[i] = out[i].isoformat()
    return tuple(out)


async def insert_roll(
    session: AsyncSession, rows: Sequence[tuple[Any, ...]], table: str = roll.name
) -> None:
    """Bulk insert of roll tuples (:data:`ROLL_INSERT_COLUMNS` order; dates as ``date``,
    or already ISO text on SQLite) into ``table``, in the session's transaction. Raises
    :class:`RepeatedRecordError` if a row's record id is taken."""
    if not rows:
        return
    conn = await session.connection()
    dialect, driver_name = conn.dialect.name, conn.dialect.driver
    try:
        if (dialect, driver_name) not in _BULK_DRIVERS:
            assert table == roll.name
            await session.execute(
                roll.insert(), [dict(zip(ROLL_INSERT_COLUMNS, r, strict=True)) for r in rows]
            )
            return
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        if dialect == "postgresql":
            await driver.copy_records_to_table(table, records=rows, columns=ROLL_INSERT_COLUMNS)
            return
        assert table == roll.name
        if rows[0][ROLL_DATE_POSITIONS[0]].__class__ is not str:
            rows = [iso_dates(r) for r in rows]
        if driver_name == "aiosqlite":
            await driver.executemany(_SQLITE_INSERT, rows)
        else:  # sqlite3 itself, on the loop's thread (services.runtime.sqlite_inline)
            driver.executemany(_SQLITE_INSERT, rows)
    except (asyncpg.UniqueViolationError, sqlite3.IntegrityError, IntegrityError) as exc:
        raise RepeatedRecordError(_REPEATED) from exc


class InPlaceLoad:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._replaced: dict[str, int] = {}
        self._dropped: list[Index] = []
        self._old_below: int | None = None  # bulk: rows with a lower id are the old roll

    async def prepare(self) -> None:
        """Drop the roll's indexes, built again in :meth:`finish`; the organisations'
        old rows are removed there too (without the unique index nothing finds them
        quickly before)."""
        conn = await self._session.connection()
        if conn.dialect.name == "postgresql":
            # Index builds sort in memory when they can; only for this transaction.
            await conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
        elif conn.dialect.name == "sqlite":  # given back in finish()
            await conn.exec_driver_sql(f"PRAGMA cache_size = -{_SQLITE_BULK_CACHE_KIB}")
        existing = set(
            await conn.run_sync(
                lambda sync: [i["name"] for i in inspect(sync).get_indexes(roll.name)]
            )
        )
        # The unique index first: it is the one built first again.
        self._dropped = sorted(
            (i for i in roll.indexes if i.name in existing),
            key=lambda i: (not i.unique, str(i.name)),
        )
        self._old_below = int(await self._session.scalar(select(func.max(roll.c.id))) or 0) + 1
        for index in self._dropped:
            await conn.exec_driver_sql(f"DROP INDEX {index.name}")

    async def replace(self, org_code: str) -> None:
        if self._old_below is not None:
            self._replaced[org_code] = 0  # counted and deleted in finish()
            return
        result = await self._session.execute(roll.delete().where(roll.c.org_code == org_code))
        self._replaced[org_code] = int(getattr(result, "rowcount", 0) or 0)

    async def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        await insert_roll(self._session, rows)

    async def finish(self) -> dict[str, int]:
        if self._old_below is None:
            return self._replaced
        await self._remove_old_rows()
        conn = await self._session.connection()
        for index in self._dropped:
            try:
                await conn.run_sync(index.create)
            except IntegrityError as exc:
                raise RepeatedRecordError(_REPEATED) from exc
        if conn.dialect.name == "postgresql":
            # Fresh statistics, or the planner may scan a national roll for one child.
            await conn.exec_driver_sql(f"ANALYZE {roll.name}")
        elif conn.dialect.name == "sqlite":
            await conn.exec_driver_sql("PRAGMA cache_size = -2000")  # SQLite's default
        return self._replaced

    async def _remove_old_rows(self) -> None:
        """The replaced organisations' old rows, counted for the summary first: one pass
        over the old roll whatever the number of organisations (no index is left to
        find them by)."""
        orgs = sorted(self._replaced)
        if not orgs:
            return
        conn = await self._session.connection()
        listed: ColumnElement[bool]
        if conn.dialect.name == "sqlite":
            values = func.json_each(json.dumps(orgs)).table_valued("value")
            listed = roll.c.org_code.in_(select(values.c.value))
        else:
            listed = roll.c.org_code == any_(postgresql.array(orgs))
        old = (roll.c.id < self._old_below) & listed
        counted = await self._session.execute(
            select(roll.c.org_code, func.count()).where(old).group_by(roll.c.org_code)
        )
        self._replaced.update({org: int(n) for org, n in counted.tuples()})
        await self._session.execute(roll.delete().where(old))


class SwapLoad:
    """PostgreSQL: load into a fresh table, then swap it in (see the module's notes).

    The roll is locked in SHARE ROW EXCLUSIVE mode for the whole load: reads go on,
    while another import (or any other write to the roll) waits, so no write made
    meanwhile can be lost in the swap. Names are restored exactly (table, primary key,
    indexes, the id sequence's owner), so the schema stays as the
    migrations made it.
    """

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._orgs: list[str] = []

    async def _sql(self, statement: str, *args: Any) -> Any:
        conn = await self._session.connection()
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        return await driver.fetch(statement, *args) if args else await driver.execute(statement)

    async def prepare(self) -> None:
        await self._sql(f"LOCK TABLE {roll.name} IN SHARE ROW EXCLUSIVE MODE")
        await self._sql("SET LOCAL maintenance_work_mem = '512MB'")
        await self._sql(f"DROP TABLE IF EXISTS {_LOAD_TABLE}")
        await self._sql(f"CREATE TABLE {_LOAD_TABLE} (LIKE {roll.name} INCLUDING DEFAULTS)")

    async def replace(self, org_code: str) -> None:
        self._orgs.append(org_code)

    async def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        await insert_roll(self._session, rows, _LOAD_TABLE)

    async def finish(self) -> dict[str, int]:
        counted = await self._sql(
            f"SELECT org_code, count(*) FROM {roll.name} WHERE org_code = ANY($1::text[]) "
            "GROUP BY org_code",
            self._orgs,
        )
        replaced = dict.fromkeys(self._orgs, 0) | {row[0]: int(row[1]) for row in counted}
        columns = ", ".join(c.name for c in roll.columns)
        await self._sql(
            f"INSERT INTO {_LOAD_TABLE} ({columns}) SELECT {columns} FROM {roll.name} "
            "WHERE NOT (org_code = ANY($1::text[]))",
            self._orgs,
        )
        # The key and indexes under load names first: the old ones still hold theirs.
        # The unique index first: a record id given twice fails the import early.
        await self._sql(
            f"ALTER TABLE {_LOAD_TABLE} ADD CONSTRAINT {_LOAD_TABLE}_pkey PRIMARY KEY (id)"
        )
        indexes = sorted(roll.indexes, key=lambda i: (not i.unique, str(i.name)))
        for index in indexes:
            ddl = str(CreateIndex(index).compile(dialect=postgresql.dialect()))
            ddl = ddl.replace(
                f"INDEX {index.name} ON {roll.name} ",
                f"INDEX {index.name}_load ON {_LOAD_TABLE} ",
                1,
            )
            try:
                await self._sql(ddl)
            except asyncpg.UniqueViolationError as exc:
                raise RepeatedRecordError(_REPEATED) from exc
        await self._sql(f"ANALYZE {_LOAD_TABLE}")
        # The swap: brief, at the end of the transaction.
        await self._sql(f"ALTER SEQUENCE {roll.name}_id_seq OWNED BY {_LOAD_TABLE}.id")
        await self._sql(f"DROP TABLE {roll.name}")
        await self._sql(f"ALTER TABLE {_LOAD_TABLE} RENAME TO {roll.name}")
        await self._sql(
            f"ALTER TABLE {roll.name} RENAME CONSTRAINT {_LOAD_TABLE}_pkey TO {roll.name}_pkey"
        )
        for index in indexes:
            await self._sql(f"ALTER INDEX {index.name}_load RENAME TO {index.name}")
        return replaced

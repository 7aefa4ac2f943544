"""The live roll's name frequencies in the router's database (issue 22;
services/router/name_frequencies.py says why the router uses them).

Every roll import replaces some organisations' rolls and leaves the others' as they
were, so the tables are worked out again over the whole stored roll, not the file: in
the import's transaction, after its rows are in, so a reader sees the roll and its
frequencies of the same moment. The database counts the names (one grouped scan per
field: no name of a child leaves it, and at a million rows far less is read back than
the rows themselves); only names held by ``min_count`` rows or more come back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from services.router.model import TF_MIN_COUNT, TermFrequencies
from services.router.name_frequencies import RollFrequencies, of_counts
from services.router.tables import name_frequencies, roll


def first_given(
    dialect: str, norm_given: ColumnElement[str] = roll.c.norm_given
) -> ColumnElement[str]:
    """The first of the normalised given names (name_frequencies.first_given) in SQL:
    normalised names have single spaces and none at either end."""
    if dialect == "postgresql":
        return func.split_part(norm_given, " ", 1)
    # SQLite: up to the first space of the name with one added at its end.
    return func.substr(norm_given, 1, func.instr(norm_given + " ", " ") - 1)


async def _counts(
    session: AsyncSession, name: ColumnElement[str], min_count: int
) -> dict[str, int]:
    counted = await session.execute(
        select(name, func.count()).group_by(name).having(func.count() >= min_count)
    )
    return {str(n): int(count) for n, count in counted.tuples()}


async def recompute(
    session: AsyncSession, now: datetime, min_count: int = TF_MIN_COUNT
) -> RollFrequencies:
    """The whole roll's name tables, stored in place of the old ones in ``session``'s
    transaction."""
    conn = await session.connection()
    rows = int(await session.scalar(select(func.count()).select_from(roll)) or 0)
    given = await _counts(session, first_given(conn.dialect.name), min_count)
    family = await _counts(session, roll.c.norm_family, min_count)
    live = of_counts(rows, min_count, given, family)
    await session.execute(delete(name_frequencies))
    await session.execute(
        insert(name_frequencies),
        [
            {
                "field": field_name,
                "roll_rows": live.rows,
                "min_count": live.min_count,
                "minimum": tf.minimum,
                "shares": dict(tf.values),
                "updated_at": now,
            }
            for field_name, tf in live.tables.items()
        ],
    )
    return live


def _tables(rows: list[Any]) -> RollFrequencies | None:
    if not rows:
        return None
    return RollFrequencies(
        int(rows[0].roll_rows),
        int(rows[0].min_count),
        {
            r.field: TermFrequencies(
                float(r.minimum), {str(k): float(v) for k, v in dict(r.shares).items()}
            )
            for r in rows
        },
    )


def load(connection: Connection) -> RollFrequencies | None:
    """The stored tables (None: no roll import has stored any yet)."""
    return _tables(list(connection.execute(select(name_frequencies)).all()))


async def stored(session: AsyncSession) -> RollFrequencies | None:
    return _tables(list((await session.execute(select(name_frequencies))).all()))

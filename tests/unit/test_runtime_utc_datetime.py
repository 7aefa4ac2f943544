"""``UtcDateTime`` binds what SQLAlchemy's own processing binds, though it remembers the
last value (a clock reading bound by several statements): the same text for the same
reading, each reading's own text, on SQLite's driver and asyncpg's, a naive datetime
refused every time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, Table
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from services.runtime.database import UtcDateTime

READINGS = [
    datetime(2026, 12, 5, 3, 30, 0, 120034, tzinfo=UTC),
    datetime(2026, 12, 5, 3, 30, 0, tzinfo=UTC),
    datetime(2026, 12, 5, 4, 30, 0, 5, tzinfo=timezone(timedelta(hours=1))),
    datetime(2026, 3, 29, 0, 30, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
]


Process = Callable[[Any], Any]


def _callable(process: Process | None) -> Process:
    assert process is not None
    return process


def _unremembered(dialect: Dialect, implementation: bool = True) -> Process:
    """SQLAlchemy's processor for the type, as it was before it remembered anything."""
    type_: Any = UtcDateTime().dialect_impl(dialect) if implementation else UtcDateTime()
    return _callable(TypeDecorator.bind_processor(type_, dialect))


@pytest.mark.parametrize("dialect", [SQLiteDialect_pysqlite(), PGDialect_asyncpg()])
def test_the_same_text_as_sqlalchemys_processing(dialect: Dialect) -> None:
    table = Table("t", MetaData(), Column("at", UtcDateTime()), Column("other", UtcDateTime()))
    at, other = (
        _callable(c.type.dialect_impl(dialect).bind_processor(dialect)) for c in table.columns
    )
    assert at is other  # one processor for every column of the dialect
    reference = _unremembered(dialect)
    for reading in [*READINGS, READINGS[0], READINGS[0], READINGS[2], None]:
        assert at(reading) == reference(reading)
        assert other(reading) == reference(reading)
    equal_but_not_the_same = READINGS[0].astimezone(timezone(timedelta(hours=2)))
    assert at(READINGS[0]) == at(equal_but_not_the_same) == reference(equal_but_not_the_same)
    # Asked for without the dialect's implementation (DateTime, not SQLite's DATETIME),
    # it is that one's, and the dialect's stays its own.
    generic = _callable(UtcDateTime().bind_processor(dialect))
    assert generic(READINGS[0]) == _unremembered(dialect, implementation=False)(READINGS[0])
    assert at(READINGS[1]) == reference(READINGS[1])


def test_a_naive_datetime_is_refused_every_time() -> None:
    dialect = SQLiteDialect_pysqlite()
    process = _callable(UtcDateTime().dialect_impl(dialect).bind_processor(dialect))
    naive = datetime(2026, 12, 5, 3, 30)
    for _ in range(2):
        with pytest.raises(ValueError, match="naive"):
            process(naive)

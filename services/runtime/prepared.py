"""Statements compiled once and run on the driver's cursor (issue 18).

A Core statement run through ``Connection.execute`` costs SQLAlchemy tens of µs around
the driver's own few: an execution context, the cache look-up of its compiled form, its
parameters processed into a new dict, its result wrapped. For the statements a hot path
runs on every alert that is most of their cost. A :class:`Prepared` statement keeps,
per dialect and set of parameter names, the SQL text, the order of its parameters and
SQLAlchemy's own bind processors (so a ``UtcDateTime`` is the same text in the file as
on any other path), and on SQLite runs it on the DBAPI cursor through the dialect's
``do_execute`` (its cooperative busy waits and turns of the loop,
:mod:`services.runtime.sqlite_inline`). Elsewhere (PostgreSQL over asyncpg, where each
statement is a round trip anyway) it goes through ``Connection.execute`` as before.

Only statements whose every parameter is known at compile time go to the driver: no
expanding ``IN`` (rendered per execution), no Python-side column defaults; others (found
when first compiled) go through ``Connection.execute`` everywhere. Callers run on a
connection's synchronous side (``AsyncSession.run_sync``, :meth:`Database.run`), in the
transaction of that connection.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, TypeVar, cast

from sqlalchemy import String, bindparam, func, select
from sqlalchemy.engine import Connection, Dialect, Result
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.sql import ClauseElement, Executable

# The SQLite dialects whose connection is the standard ``sqlite3`` module's.
_SQLITE_DRIVERS = frozenset({"relayinline", "pysqlite"})

Processor = Callable[[Any], Any] | None
S = TypeVar("S", bound=Executable)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the parameters in the order of the SQL's placeholders
    fixed: Mapping[str, Any]  # values the statement itself holds (``.values(state=...)``)
    # The result processors of the columns that have one (a SELECT's, RETURNING's), by
    # position; most columns have none, and their values stay as the driver gave them.
    results: tuple[tuple[int, Callable[[Any], Any]], ...]
    returns_rows: bool
    # Built from the above, for a batch's rows: every name's value at once (C's
    # ``itemgetter``), then the processors of the places that have one.
    get: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    processed: tuple[tuple[int, Callable[[Any], Any]], ...]


def _direct(dialect: Dialect) -> bool:
    return dialect.name == "sqlite" and dialect.driver in _SQLITE_DRIVERS


class Prepared:
    """One Core statement, compiled once per dialect and set of parameter names."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, str, tuple[str, ...]], _Compiled | None] = {}

    def run(self, connection: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute with ``params`` in ``connection``'s transaction; the rows it returns
        (RETURNING), as tuples."""
        dialect = connection.dialect
        compiled = self._for(dialect, tuple(params))
        if compiled is None:
            result = connection.execute(self.statement, dict(params))
            return [tuple(row) for row in result] if result.returns_rows else []
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            dialect.do_execute(cursor, compiled.sql, _values(compiled, params), None)
            if not compiled.returns_rows:
                return []
            rows = cast(list[tuple[Any, ...]], cursor.fetchall())  # sqlite3 gives tuples
            return [_row(compiled.results, raw) for raw in rows] if compiled.results else rows
        finally:
            cursor.close()

    def result(self, connection: Connection, params: Mapping[str, Any]) -> Result[Any]:
        """:meth:`run`, its rows as a SQLAlchemy ``Result`` (``first``, ``all``,
        ``scalar``, rows read by column name), as ``Connection.execute`` gives them."""
        rows = self.run(connection, params)
        return IteratorResult(self._metadata, iter(rows))

    @functools.cached_property
    def _metadata(self) -> SimpleResultMetaData:
        """The names of its rows' columns, read once (results share it, as SQLAlchemy's
        cached statements share theirs)."""
        keys = [column.key for column in getattr(self.statement, "exported_columns", ())]
        return SimpleResultMetaData(keys)

    def run_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute once for each of ``rows`` (all with the same names), as an
        executemany, in ``connection``'s transaction."""
        if not rows:
            return
        dialect = connection.dialect
        compiled = self._for(dialect, tuple(rows[0]))
        if compiled is None:
            connection.execute(self.statement, [dict(row) for row in rows])
            return
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            dialect.do_executemany(
                cursor, compiled.sql, [_values(compiled, row) for row in rows], None
            )
        finally:
            cursor.close()

    def _for(self, dialect: Dialect, names: tuple[str, ...]) -> _Compiled | None:
        """The statement compiled for the driver; None: through ``Connection.execute``."""
        key = (dialect.name, str(dialect.driver), names)
        try:
            return self._compiled[key]
        except KeyError:
            compiled = _compile(self.statement, dialect, names) if _direct(dialect) else None
            self._compiled[key] = compiled
            return compiled


def _compile(statement: Executable, dialect: Dialect, names: tuple[str, ...]) -> _Compiled | None:
    compiled: Any = cast(ClauseElement, statement).compile(dialect=dialect, column_keys=list(names))
    if (
        not compiled.positional
        or compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.post_compile_params
        or compiled.literal_execute_params
        or compiled.escaped_bind_names
    ):
        return None
    binds = compiled.binds
    order = tuple(compiled.positiontup)
    processors = tuple(
        binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in order
    )
    fixed = {name: bind.effective_value for name, bind in binds.items() if not bind.required}
    # What it returns: a SELECT's columns, or RETURNING's (none for other DML).
    columns = tuple(getattr(statement, "exported_columns", ()))
    results = _present(
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
    )
    return _Compiled(
        compiled.string,
        order,
        fixed,
        results,
        bool(columns),
        _getter(order),
        _present(processors),
    )


def _present(processors: Iterable[Processor]) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    """The processors that are there, each with its position."""
    return tuple((n, p) for n, p in enumerate(processors) if p is not None)


def _getter(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    if len(names) == 1:
        (name,) = names
        return lambda params: (params[name],)
    if not names:
        return lambda params: ()
    return cast(Callable[[Mapping[str, Any]], tuple[Any, ...]], itemgetter(*names))


def _values(compiled: _Compiled, params: Mapping[str, Any]) -> tuple[Any, ...]:
    try:
        values = compiled.get(params)
    except KeyError:  # a value the statement holds, which ``params`` does not give
        values = tuple(
            params[name] if name in params else compiled.fixed[name] for name in compiled.names
        )
    if not compiled.processed:
        return values
    processed = list(values)
    for n, process in compiled.processed:
        processed[n] = process(processed[n])
    return tuple(processed)


def _row(
    processors: tuple[tuple[int, Callable[[Any], Any]], ...], raw: Sequence[Any]
) -> tuple[Any, ...]:
    row = list(raw)
    for n, process in processors:
        row[n] = process(row[n])
    return tuple(row)


def json_values(name: str) -> Any:
    """A subquery of the values of parameter ``name`` given as one JSON array (SQLite's
    ``json_each``): one text whatever the count of values, so a :class:`Prepared`
    statement can take a list, where an expanding ``IN`` is rendered again by SQLAlchemy
    on every execution."""
    each = func.json_each(bindparam(name, type_=String)).table_valued("value")
    return select(each.c.value).scalar_subquery()


def sends_arrays(connection: Connection) -> bool:
    """Whether lists go to this connection as one JSON array (:func:`json_values`) rather
    than an expanding ``IN``: on SQLite."""
    return connection.dialect.name == "sqlite"


# Statements built once (cached by their builders) that a handler's step runs through a
# ``CoreSession`` (services/runtime/hand_over.py), by identity: see :func:`hot`.
_HOT: dict[int, Prepared] = {}


def hot(statement: S) -> S:
    """``statement`` (built once and kept, as ``functools.cache``'s builders keep
    theirs) marked to run as a :class:`Prepared` when a handler's step executes it with
    one set of parameters through a ``CoreSession``: the same rows, without
    SQLAlchemy's execution path around the driver."""
    _HOT.setdefault(id(statement), Prepared(statement))
    return statement


def hot_prepared(statement: object) -> Prepared | None:
    """The :class:`Prepared` of a statement marked :func:`hot`; None for any other."""
    prepared = _HOT.get(id(statement))
    return prepared if prepared is not None and prepared.statement is statement else None


def execute(
    connection: Connection, statement: Executable, params: Mapping[str, Any]
) -> Result[Any]:
    """``connection.execute(statement, params)`` on a connection's synchronous side, as
    a :class:`Prepared` when ``statement`` is marked :func:`hot`: the same rows (read
    by position, by column name, ``first``, ``all``, ``scalar``), not its ``rowcount``."""
    prepared = hot_prepared(statement)
    if prepared is None:
        return connection.execute(statement, dict(params))
    return prepared.result(connection, params)


def execute_many(
    connection: Connection, statement: Executable, rows: Sequence[Mapping[str, Any]]
) -> None:
    """``connection.execute(statement, rows)`` (an executemany), as a :class:`Prepared`
    when ``statement`` is marked :func:`hot`."""
    prepared = hot_prepared(statement)
    if prepared is None:
        connection.execute(statement, [dict(row) for row in rows])
    else:
        prepared.run_many(connection, rows)

"""Tamper-evident audit logs: an append-only table whose every entry holds the SHA-256
of the entry before it and of its own content, so that changing, inserting or removing
an entry (other than through retention, which records what it pruned) breaks the chain
at that point. ``relay audit verify`` walks it.

Each chained table has the columns of :func:`chain_columns` beside its own; the
service's ``<prefix>_audit_chains`` table holds one row per chain (its head: the last
sequence number and hash, and where the kept part starts). Appending locks the head row
(an UPDATE first), so concurrent writers, other copies of a service included, take turns
and never fork the chain.

Someone who can write to the database could still rebuild a whole chain after altering
it: record the head printed by ``relay audit verify`` somewhere they cannot write
(docs/security.md) and a rebuilt chain no longer matches it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    MetaData,
    String,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from services.runtime.prepared import Prepared

GENESIS = "0" * 64  # the "previous hash" of a chain's first entry
CHAIN_COLUMNS = ("seq", "prev_hash", "entry_hash")


def chain_columns(table_name: str) -> list[Column[Any] | Index]:
    """The chain's columns for a table named ``table_name``, and the index on ``seq``."""
    return [
        Column("seq", BigInteger, nullable=False),
        Column("prev_hash", String(64), nullable=False),
        Column("entry_hash", String(64), nullable=False),
        Index(f"uq_{table_name}_seq", "seq", unique=True),
    ]


def chain_heads(metadata: MetaData, prefix: str) -> Table:
    """``<prefix>_audit_chains``: one row per chained table of the service."""
    return Table(
        f"{prefix}_audit_chains",
        metadata,
        Column("chain", String(63), primary_key=True),
        Column("last_seq", BigInteger, nullable=False),
        Column("last_hash", String(64), nullable=False),
        # Retention prunes the oldest entries: the kept part starts here.
        Column("first_seq", BigInteger, nullable=False),
        Column("first_prev_hash", String(64), nullable=False),
    )


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def entry_hash(prev_hash: str, seq: int, content: dict[str, Any]) -> str:
    """The hash of one entry: the previous hash, its sequence number and its content
    (every column but the chain's own and the row id), as canonical JSON."""
    body = json.dumps(
        {"prev": prev_hash, "seq": seq, "content": {k: _canonical(v) for k, v in content.items()}},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def content_of(table: Table, row: Any) -> dict[str, Any]:
    """The hashed content of a row of ``table``."""
    mapping = row._mapping
    return {
        c.name: mapping[c.name]
        for c in table.columns
        if c.name not in CHAIN_COLUMNS and not c.primary_key
    }


@dataclass(frozen=True)
class _Statements:
    """A chain's statements, built once per heads and chained table and run on the
    driver (:mod:`services.runtime.prepared`): SQLAlchemy's execution around them cost
    more than running them."""

    advance: Prepared  # take the head's lock, move it on by ``b_count``: (last_seq, last_hash)
    create: Prepared  # the head of a chain's first entries (the migration makes it otherwise)
    entries: Prepared  # the entries themselves
    seal: Prepared  # the hash of the entry now last
    # The head moved from the one this process left to a new one, if it is still that
    # one: its lock, its check and its new values in one statement (``move``, below).
    move: Prepared


@functools.cache
def _statements(heads: Table, table: Table) -> _Statements:
    chain = heads.c.chain == bindparam("b_chain")
    return _Statements(
        advance=Prepared(
            update(heads)
            .where(chain)
            .values(last_seq=heads.c.last_seq + bindparam("b_count", type_=BigInteger))
            .returning(heads.c.last_seq, heads.c.last_hash)
        ),
        create=Prepared(insert(heads)),
        entries=Prepared(insert(table)),
        seal=Prepared(
            update(heads).where(chain).values(last_hash=bindparam("b_hash", type_=String))
        ),
        move=Prepared(
            update(heads)
            .where(
                chain,
                heads.c.last_seq == bindparam("b_seq", type_=BigInteger),
                heads.c.last_hash == bindparam("b_hash", type_=String),
            )
            .values(
                last_seq=bindparam("b_new_seq", type_=BigInteger),
                last_hash=bindparam("b_new_hash", type_=String),
            )
            .returning(heads.c.chain)
        ),
    )


# The head each chain had after this process last appended to it, by heads table and
# chain. The next append takes it as its starting point and moves the head in one
# statement that also checks it (:func:`append_many_on`); a head moved meanwhile (by
# another copy of the service, or a transaction of ours rolled back) fails the check,
# and the head is read and moved as when nothing is known. The check is on the head's
# sequence number and hash, which are the chain's whole state, so a stale or foreign
# entry here can cost one statement but never a wrong link.
_known_heads: dict[tuple[str, str], tuple[int, str]] = {}


async def append(session: AsyncSession, heads: Table, table: Table, values: dict[str, Any]) -> int:
    """Add one entry to ``table``'s chain in ``session``'s transaction; its sequence
    number. ``values`` are every content column of the table."""
    return (await append_many(session, heads, table, [values]))[0]


async def append_many(
    session: AsyncSession, heads: Table, table: Table, entries: Sequence[dict[str, Any]]
) -> list[int]:
    """:func:`append_many_on` in ``session``'s transaction, in one hand-over to its
    synchronous side (one greenlet for the three statements, not one each)."""
    if not entries:
        return []
    return await session.run_sync(
        lambda sync: append_many_on(sync.connection(), heads, table, entries)
    )


def append_many_on(
    connection: Connection, heads: Table, table: Table, entries: Sequence[dict[str, Any]]
) -> list[int]:
    """Add ``entries`` to ``table``'s chain, in order, in ``connection``'s transaction;
    their sequence numbers. The head is locked and moved on in one statement, the
    entries written in one, and the head's hash set in a third, whatever their number;
    two when the head is still where this process left it (:data:`_known_heads`): moved,
    checked and locked in one, then the entries. Synchronous: for a caller already on a
    session's synchronous side (``run_sync``)."""
    if not entries:
        return []
    chain, count = table.name, len(entries)
    statements = _statements(heads, table)
    key = (heads.name, chain)
    known = _known_heads.get(key)
    if known is not None:
        rows = _linked(entries, known[0] + 1, known[1])
        last = (known[0] + count, rows[-1]["entry_hash"])
        params = {"b_chain": chain, "b_seq": known[0], "b_hash": known[1]}
        if statements.move.run(connection, {**params, "b_new_seq": last[0], "b_new_hash": last[1]}):
            statements.entries.run_many(connection, rows)
            _known_heads[key] = last
            return [row["seq"] for row in rows]
    head = statements.advance.run(connection, {"b_chain": chain, "b_count": count})
    if not head:  # the first entries ever: the head is made (the migration makes it)
        statements.create.run(
            connection,
            {
                "chain": chain,
                "last_seq": count,
                "last_hash": GENESIS,
                "first_seq": 1,
                "first_prev_hash": GENESIS,
            },
        )
        last_seq, prev = count, GENESIS
    else:
        last_seq, prev = int(head[0][0]), str(head[0][1])
    rows = _linked(entries, last_seq - count + 1, prev)
    statements.entries.run_many(connection, rows)
    statements.seal.run(connection, {"b_chain": chain, "b_hash": rows[-1]["entry_hash"]})
    _known_heads[key] = (last_seq, rows[-1]["entry_hash"])
    return [row["seq"] for row in rows]


def _linked(entries: Sequence[dict[str, Any]], first_seq: int, prev: str) -> list[dict[str, Any]]:
    """``entries`` as the chain's rows from ``first_seq`` on, after the entry ``prev``."""
    rows: list[dict[str, Any]] = []
    for seq, values in enumerate(entries, start=first_seq):
        digest = entry_hash(prev, seq, values)
        rows.append({**values, "seq": seq, "prev_hash": prev, "entry_hash": digest})
        prev = digest
    return rows


@dataclass(frozen=True)
class ChainReport:
    chain: str
    entries: int
    first_seq: int
    last_seq: int
    last_hash: str
    problems: list[str]

    @property
    def intact(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "intact": self.intact,
            "entries": self.entries,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "last_hash": self.last_hash,
            "problems": self.problems,
        }


MAX_PROBLEMS = 20  # a chain broken everywhere need not list every entry


async def verify(session: AsyncSession, heads: Table, table: Table) -> ChainReport:
    """Walk ``table``'s chain in order, page by page: every hash recomputed, every link
    to the entry before, no gap in the sequence, and the last entry the head's."""
    head = (await session.execute(select(heads).where(heads.c.chain == table.name))).first()
    first_seq = int(head.first_seq) if head else 1
    expected_prev = str(head.first_prev_hash) if head else GENESIS
    problems: list[str] = []
    expected_seq, entries, last_hash = first_seq, 0, expected_prev
    async for row in _rows(session, table):
        entries += 1
        seq = int(row.seq)
        if seq != expected_seq:
            problems.append(
                f"entry {expected_seq}"
                + (f" to {seq - 1}" if seq - 1 > expected_seq else "")
                + (" missing" if seq > expected_seq else f" out of order (found {seq})")
            )
        if row.prev_hash != expected_prev:
            problems.append(f"entry {seq}: does not follow the entry before it")
        if entry_hash(row.prev_hash, seq, content_of(table, row)) != row.entry_hash:
            problems.append(f"entry {seq}: content changed since it was written")
        expected_seq, expected_prev, last_hash = seq + 1, row.entry_hash, row.entry_hash
        if len(problems) >= MAX_PROBLEMS:
            problems.append("… (stopped after the first problems)")
            break
    else:
        if head is not None and int(head.last_seq) != expected_seq - 1:
            problems.append(
                f"entries {expected_seq} to {int(head.last_seq)} missing (the head says "
                f"the chain ends at {int(head.last_seq)})"
            )
        elif head is not None and head.last_hash != last_hash:
            problems.append("the last entry is not the one the head recorded")
        elif head is None and entries:
            problems.append("entries without a head row")
    return ChainReport(
        table.name,
        entries,
        first_seq,
        int(head.last_seq) if head else 0,
        str(head.last_hash) if head else GENESIS,
        problems,
    )


async def _rows(session: AsyncSession, table: Table, page: int = 5000) -> AsyncIterator[Any]:
    after = -1
    while True:
        rows = (
            await session.execute(
                select(table).where(table.c.seq > after).order_by(table.c.seq).limit(page)
            )
        ).all()
        for row in rows:
            yield row
        if len(rows) < page:
            return
        after = int(rows[-1].seq)


async def prune_before(
    session: AsyncSession, heads: Table, table: Table, at_column: str, cutoff: datetime
) -> int:
    """Retention: remove the oldest entries written before ``cutoff`` (a prefix of the
    chain, so what is kept still verifies) and record where the kept part starts."""
    stamp = table.c[at_column]
    newest_old = await session.scalar(select(func.max(table.c.seq)).where(stamp < cutoff))
    if newest_old is None:
        return 0
    # Lock the head first, as append does, so no entry is added meanwhile.
    head = (
        await session.execute(
            update(heads)
            .where(heads.c.chain == table.name)
            .values(last_seq=heads.c.last_seq)
            .returning(heads.c.last_seq, heads.c.last_hash)
        )
    ).first()
    if head is None:
        return 0
    following = (
        await session.execute(
            select(table.c.seq, table.c.prev_hash)
            .where(table.c.seq > newest_old)
            .order_by(table.c.seq)
            .limit(1)
        )
    ).first()
    if following is not None:
        first_seq, first_prev = int(following.seq), str(following.prev_hash)
    else:
        first_seq, first_prev = int(head.last_seq) + 1, str(head.last_hash)
    removed = await session.execute(delete(table).where(table.c.seq <= newest_old))
    await session.execute(
        update(heads)
        .where(heads.c.chain == table.name)
        .values(first_seq=first_seq, first_prev_hash=first_prev)
    )
    return int(getattr(removed, "rowcount", 0) or 0)

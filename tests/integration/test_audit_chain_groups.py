"""A group of audit entries appended at once (issue 18: the notifier's outcome
transaction) makes the very chain that appending them one by one makes: the same
sequence numbers and hashes, and it verifies, before and after more entries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, select

from services.runtime import audit_chain
from services.runtime.database import Database, UtcDateTime

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def tables() -> tuple[MetaData, Table, Table]:
    metadata = MetaData()
    heads = audit_chain.chain_heads(metadata, "test")
    entries = Table(
        "test_entries",
        metadata,
        Column(
            "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        Column("at", UtcDateTime(), nullable=False),
        Column("what", String(100), nullable=False),
        *audit_chain.chain_columns("test_entries"),
    )
    return metadata, heads, entries


def entry(n: int) -> dict[str, Any]:
    return {"at": T0 + timedelta(seconds=n), "what": f"disclosure {n} — é"}


async def chain(url: str, groups: list[int]) -> list[tuple[int, str, str]]:
    metadata, heads, entries = tables()
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        n = 0
        for size in groups:
            async with db.transaction() as session:
                if size == 1:
                    seqs = [await audit_chain.append(session, heads, entries, entry(n))]
                else:
                    seqs = await audit_chain.append_many(
                        session, heads, entries, [entry(n + i) for i in range(size)]
                    )
            assert seqs == list(range(n + 1, n + size + 1))
            n += size
        async with db.transaction() as session:
            report = await audit_chain.verify(session, heads, entries)
            rows = (
                await session.execute(
                    select(entries.c.seq, entries.c.prev_hash, entries.c.entry_hash).order_by(
                        entries.c.seq
                    )
                )
            ).all()
        assert report.intact, report.problems
        assert report.entries == report.last_seq == n
        return [(int(r.seq), str(r.prev_hash), str(r.entry_hash)) for r in rows]
    finally:
        await db.dispose()


async def test_groups_make_the_chain_single_entries_make(
    database_url: Callable[[str], str],
) -> None:
    one_by_one = await chain(database_url("single"), [1] * 9)
    grouped = await chain(database_url("grouped"), [3, 1, 4, 1])
    assert grouped == one_by_one
    assert one_by_one[0][1] == audit_chain.GENESIS


async def test_an_empty_group_changes_nothing(database_url: Callable[[str], str]) -> None:
    _metadata, heads, entries = tables()
    db = Database(database_url("empty"))
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(_metadata.create_all)
        async with db.transaction() as session:
            assert await audit_chain.append_many(session, heads, entries, []) == []
            assert (await session.execute(select(heads))).first() is None
    finally:
        await db.dispose()

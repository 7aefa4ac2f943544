"""A group of audit entries appended at once (issue 18: the notifier's outcome
transaction) makes the very chain that appending them one by one makes: the same
sequence numbers and hashes, and it verifies, before and after more entries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
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


class _Refused:
    """A statement that must not run."""

    def run(self, *_args: Any) -> list[Any]:
        raise AssertionError("the head was read although this process knew it")


async def test_a_head_left_elsewhere_or_rolled_back_is_read_again_and_the_chain_holds(
    database_url: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    metadata, heads, entries = tables()
    db = Database(database_url("known-heads"))
    key = (heads.name, entries.name)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

        async def append(first: int, size: int) -> list[int]:
            async with db.transaction() as session:
                return await audit_chain.append_many(
                    session, heads, entries, [entry(first + i) for i in range(size)]
                )

        audit_chain._known_heads.pop(key, None)
        assert await append(0, 2) == [1, 2]
        left = audit_chain._known_heads[key]
        # Where this process left it: moved in one statement, the entries in another.
        real = audit_chain._statements(heads, entries)
        refused = replace(real, advance=_Refused(), seal=_Refused())
        with monkeypatch.context() as patch:
            patch.setattr(audit_chain, "_statements", lambda _h, _t: refused)
            assert await append(2, 1) == [3]
        # Another copy appended meanwhile: this process's head is stale.
        audit_chain._known_heads[key] = left
        assert await append(3, 2) == [4, 5]
        # A transaction of ours rolled back after appending: the head it knew never was.
        with pytest.raises(RuntimeError):
            async with db.transaction() as session:
                await audit_chain.append_many(session, heads, entries, [entry(5)])
                raise RuntimeError("the rest of the transaction failed")
        assert audit_chain._known_heads[key][0] == 6
        assert await append(5, 1) == [6]
        async with db.transaction() as session:
            report = await audit_chain.verify(session, heads, entries)
        assert report.intact, report.problems
        assert report.entries == report.last_seq == 6
    finally:
        await db.dispose()

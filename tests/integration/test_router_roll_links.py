"""A roll link is written in one INSERT … ON CONFLICT DO UPDATE (issue 18;
services/router/person_index.py): a new link is stored as it comes, a sure link makes a
sole-candidate one sure, a sole-candidate link never weakens a sure one, and a record
given twice in one call is one row."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import select

from services.router import person_index
from services.router.tables import person_roll_links as links
from services.runtime.database import Database
from services.runtime.migrations import upgrade


async def _links(db: Database) -> dict[tuple[str, str], bool]:
    async with db.transaction() as session:
        rows = (
            await session.execute(select(links.c.org_code, links.c.record_id, links.c.sure))
        ).all()
    return {(row.org_code, row.record_id): bool(row.sure) for row in rows}


async def test_roll_links_are_added_and_made_sure_never_weakened(
    database_url: Callable[[str], str],
) -> None:
    url = await asyncio.to_thread(database_url, "router")
    await asyncio.to_thread(upgrade, "router", url)
    db = Database(url)
    try:
        async with db.transaction() as session:
            await person_index.add_roll_links(session, "AB", "E1", [("S1", "r1")], sure=False)
            await person_index.add_roll_links(
                session, "AB", "E1", [("S2", "r2"), ("S3", "r3")], sure=True
            )
        assert await _links(db) == {("S1", "r1"): False, ("S2", "r2"): True, ("S3", "r3"): True}
        async with db.transaction() as session:
            await person_index.add_roll_links(session, "AB", "E1", [("S1", "r1")], sure=True)
            await person_index.add_roll_links(session, "AB", "E1", [("S2", "r2")], sure=False)
            await person_index.add_roll_links(
                session, "AB", "E1", [("S4", "r4"), ("S4", "r4")], sure=False
            )
        assert await _links(db) == {
            ("S1", "r1"): True,
            ("S2", "r2"): True,
            ("S3", "r3"): True,
            ("S4", "r4"): False,
        }
    finally:
        await db.dispose()

"""The notifier's child of each episode (services/notifier/child_links.py): the router's
``child-identities.v1`` links, the highest revision winning in any order, and a child id
an alert names adopted until a link comes. On SQLite, and on PostgreSQL when
``RELAY_TEST_DATABASE_URL`` is set."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import select

from services.notifier import child_links
from services.notifier.tables import child_links as links
from services.runtime.database import Database
from services.runtime.migrations import upgrade


async def _links(db: Database) -> dict[tuple[str, str], tuple[str, int]]:
    async with db.transaction() as session:
        rows = (await session.execute(select(links))).all()
    return {(r.force_code, r.episode_ref): (r.child_id, r.revision) for r in rows}


async def test_the_highest_revision_wins_in_any_order_and_an_adopted_child_gives_way(
    database_url: Callable[[str], str],
) -> None:
    url = database_url("notifier")
    await asyncio.to_thread(upgrade, "notifier", url)
    db = Database(url)
    try:
        steps = [
            ("E1", "child-b", 2, True),  # new: kept
            ("E1", "child-a", 1, False),  # lower, later: not kept
            ("E1", "child-c", 2, False),  # the same revision: the first stands
            ("E1", "child-d", 5, True),  # higher: replaces
            ("E2", "child-x", 0, True),
        ]
        for episode, child, revision, kept in steps:
            async with db.transaction() as session:
                assert await child_links.keep(session, "AB", episode, child, revision) is kept
        async with db.transaction() as session:
            await child_links.adopt(session, "AB", "E1", "child-named")  # a link stands
            await child_links.adopt(session, "AB", "E3", "child-named")  # none yet
        assert await _links(db) == {
            ("AB", "E1"): ("child-d", 5),
            ("AB", "E2"): ("child-x", 0),
            ("AB", "E3"): ("child-named", 0),
        }
        async with db.transaction() as session:  # the router's link replaces an adopted one
            assert await child_links.keep(session, "AB", "E3", "child-linked", 1)
            assert not await child_links.keep(session, "AB", "E3", "child-old", 0)
        assert (await _links(db))[("AB", "E3")] == ("child-linked", 1)
    finally:
        await db.dispose()

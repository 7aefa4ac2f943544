"""A withdrawn episode (issue 17) in the console's read model, on the real database: it
counts for nothing on the watchlist or in the MSET's meeting pack, while the episode page
still shows it, marked withdrawn."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from schemas.child_identity import ChildIdentityV1, LinkBasis
from services.console import handlers
from services.console.meeting_pack import build_pack
from services.console.watchlist import RepeatRule, watchlist
from tests.clock import MovableClock
from tests.console_login import client_of, sign_in
from tests.integration.test_console_returns import NOW, console, episode_event, feed

__all__ = ["console"]  # the fixture, used by name

CHILD_ID = "0d2b1f5e-3c4a-4b7e-8f61-2a9c5d7e1b30"
RULE = RepeatRule(threshold=3, window_days=90)


async def watched_and_packed(app: FastAPI) -> tuple[list[int], int]:
    async with app.state.runtime.db.transaction() as session:
        listed = await watchlist(session, RULE, NOW)
        pack = await build_pack(session, RULE, (NOW - timedelta(days=30)).date(), NOW.date())
    return [w.episodes for w in listed], len(pack.children)


async def test_a_withdrawn_episode_leaves_the_watchlist_and_the_pack(
    console: tuple[FastAPI, MovableClock],
) -> None:
    app, _ = console
    for n, days_ago in enumerate((20, 10, 2), start=1):
        at = NOW - timedelta(days=days_ago)
        reported = episode_event(f"W{n}", "reported", at)
        await feed(app, handlers.on_episode_event, reported)
        # The router's person index: the three episodes are one child (issue 20).
        link = ChildIdentityV1(
            message_id=f"link-W{n}",
            child_id=CHILD_ID,
            force_code="10",
            episode_ref=f"W{n}",
            revision=1,
            basis=LinkBasis.NHS_NUMBER,
            at=at,
        )
        await feed(app, handlers.on_child_identity, link)
    # Three episodes in 90 days: on the watchlist and in the pack.
    assert await watched_and_packed(app) == ([3], 1)

    withdrawn = episode_event("W3", "withdrawn", NOW - timedelta(days=1))
    await feed(app, handlers.on_episode_event, withdrawn)
    # Raised in error: two episodes are left, under the rule's three.
    assert await watched_and_packed(app) == ([], 0)

    async with client_of(app) as client:
        await sign_in(client, "chair")
        page = await client.get("/episodes/10/W3")
    assert page.status_code == 200
    assert "withdrawn" in page.text.lower()

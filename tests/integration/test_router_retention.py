"""Retention of the router's person index (issue 20) on the real database (SQLite, or
PostgreSQL when RELAY_TEST_DATABASE_URL is set): an episode whose last event is older
than ``accepted_events_days`` leaves the index with its roll links and reported time;
recent ones stay, and a child keeps its id through them. The scheduled sweep logs counts,
never a child's details."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from schemas.base import derived_id
from schemas.messages import IdentityDecisionV1
from services.router import person_moves, retention
from services.router.handlers import on_identity_decision
from services.router.tables import child_reviews, episodes, person_episodes, person_roll_links
from services.runtime.database import Database
from services.runtime.retention import RetentionPolicy, retention_loop, sweep_once
from tests.conftest import eventually
from tests.integration.test_router_person_index import GRACE, child_of, routed
from tests.integration.test_router_reviews import Published, load_directory
from tests.integration.test_router_routing import AT, event

# On the roll (tests/integration/test_router_reviews.py ROLL): his episodes link to S9.
OLIVER = {"given_name": "Oliver", "family_name": "Thompson", "date_of_birth": "2009-11-02"}
LONG_AGO = AT - timedelta(days=500)
LATELY = AT - timedelta(days=10)
KEPT_FOR = RetentionPolicy()  # the defaults: accepted_events 400 days


@pytest.fixture
async def db(tmp_path: Path, database_url: Callable[[str], str]) -> Any:
    url = await asyncio.to_thread(database_url, "router")
    await load_directory(url, tmp_path)
    database = Database(url)
    yield database
    await database.dispose()


async def _episodes_in_index(db: Database) -> set[str]:
    async with db.transaction() as session:
        rows = await session.execute(select(person_episodes.c.episode_ref))
        return {ref for (ref,) in rows}


async def _count(db: Database, table: Any) -> int:
    async with db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def _an_old_and_a_recent_history(db: Database) -> str:
    """Grace: one episode long ago, one lately (the same child). Oliver: one episode long
    ago, matched to his school's roll. Kai: reported long ago, found lately."""
    await routed(db, event("reported", "G-OLD", GRACE, occurred_at=LONG_AGO.isoformat()))
    grace = await child_of(db, "G-OLD")
    await routed(db, event("reported", "G-NEW", GRACE, occurred_at=LATELY.isoformat()))
    assert await child_of(db, "G-NEW") == grace
    await routed(db, event("reported", "O-OLD", OLIVER, occurred_at=LONG_AGO.isoformat()))
    kai = {"given_name": "Kai", "family_name": "Moss", "date_of_birth": "2011-07-07"}
    await routed(db, event("reported", "K", kai, occurred_at=LONG_AGO.isoformat()))
    await routed(db, event("found", "K", kai, occurred_at=LATELY.isoformat()))
    assert await _episodes_in_index(db) == {"G-OLD", "G-NEW", "O-OLD", "K"}
    assert await _count(db, person_roll_links) == 1  # Oliver's S9
    return grace


async def test_episodes_past_retention_leave_the_person_index_and_recent_ones_stay(
    db: Database,
) -> None:
    grace = await _an_old_and_a_recent_history(db)

    removed = await sweep_once(db, retention.remove_expired, KEPT_FOR, AT)

    assert removed["person_index"] == 2
    assert removed["roll_links"] == 1
    assert removed["episodes"] == 2  # the reported times of G-OLD and O-OLD
    # Kai's episode had an event lately: it stays whole, as in the console.
    assert await _episodes_in_index(db) == {"G-NEW", "K"}
    assert await child_of(db, "G-NEW") == grace  # Grace keeps her id through G-NEW
    assert await _count(db, person_roll_links) == 0
    async with db.transaction() as session:
        reported = {ref for (ref,) in await session.execute(select(episodes.c.episode_ref))}
    assert reported == {"G-NEW", "K"}
    # Nothing more is due: a second sweep removes nothing.
    again = await sweep_once(db, retention.remove_expired, KEPT_FOR, AT)
    assert not any(again.values())
    # A shorter policy takes the recent ones too.
    week = RetentionPolicy({**KEPT_FOR.days, "accepted_events": 7})
    assert (await sweep_once(db, retention.remove_expired, week, AT))["person_index"] == 2
    assert await _episodes_in_index(db) == set()


async def test_the_scheduled_sweep_logs_counts_and_never_the_child(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await _an_old_and_a_recent_history(db)
    caplog.set_level(logging.INFO, logger="services.runtime.retention")
    loop = asyncio.create_task(
        retention_loop("router", db, retention.remove_expired, KEPT_FOR, 0.05, lambda: AT)()
    )
    try:

        async def old_ones_gone() -> bool:
            return await _episodes_in_index(db) == {"G-NEW", "K"}

        await eventually(old_ones_gone, 30)
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
    [line] = [r.getMessage() for r in caplog.records if "retention removed" in r.getMessage()]
    assert line.startswith("router: retention removed ")
    assert "2 person_index" in line and "1 roll_links" in line
    for detail in ("Grace", "Hall", "Oliver", "Thompson", "2012-03-04", "G-OLD", "O-OLD"):
        assert detail not in line


async def test_a_review_whose_earlier_child_retention_removed_closes_as_expired(
    db: Database,
) -> None:
    """ "The same child as …?" waits while retention removes the earlier child: a later
    yes closes the review as expired (the episode keeps its own child), where it would
    have gone to the dead-letter topic; the command line refuses it with the reason."""
    old = {**GRACE, "police_person_id": "A1"}
    await routed(db, event("reported", "D1", old, occurred_at=LONG_AGO.isoformat()))
    doubtful = {**GRACE, "police_person_id": "A2"}
    out = await routed(db, event("reported", "D2", doubtful, occurred_at=LATELY.isoformat()))
    [review] = out.on("identity-reviews")
    [candidate] = review.candidates
    assert candidate.child_id == await child_of(db, "D1")

    removed = await sweep_once(db, retention.remove_expired, KEPT_FOR, AT)
    assert removed["person_index"] == 1 and removed["same_child_reviews"] == 0
    async with db.transaction() as session:
        why = await person_moves.child_review_refusal(
            session, review.review_id, "match", candidate.child_id
        )
    assert why is not None and "removed by retention" in why and "no-match" in why

    yes = IdentityDecisionV1(
        message_id=derived_id(review.review_id, "decision"),
        review_id=review.review_id,
        decision="match",
        child_id=candidate.child_id,
        decided_by="mash.lee",
        decided_at=AT,
    )
    decided = Published()
    async with db.transaction() as session:
        await on_identity_decision(session, yes, decided)  # type: ignore[arg-type]
    assert decided.on("child-identities") == []
    assert await child_of(db, "D2") == review.child_id  # its own child still
    async with db.transaction() as session:
        state = await session.scalar(
            select(child_reviews.c.state).where(child_reviews.c.review_id == review.review_id)
        )
    assert state == "expired"

"""`relay reviews list` shows both kinds of identity review (issue 20) from the router's
real database (SQLite, or PostgreSQL when RELAY_TEST_DATABASE_URL is set): which roll
record an organisation's child is, and "the same child as …?", each with its kind, in
text and JSON, with ids and counts and never the child's details."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schemas.base import derived_id
from schemas.messages import IdentityDecisionV1
from services.router.handlers import on_identity_decision
from services.runtime.database import Database
from tests.integration.test_router_person_index import GRACE, child_of, routed
from tests.integration.test_router_reviews import (
    CHILD,
    PERSONAL,
    Published,
    load_directory,
    relay,
)
from tests.integration.test_router_routing import event


@pytest.fixture
async def url(tmp_path: Path, database_url: Callable[[str], str]) -> str:
    router_url = await asyncio.to_thread(database_url, "router")
    await load_directory(router_url, tmp_path)
    return router_url


@pytest.fixture
async def db(url: str) -> Any:
    database = Database(url)
    yield database
    await database.dispose()


@pytest.fixture
def listed(url: str) -> Callable[..., Any]:
    """``await listed(*options)``: ``relay reviews list`` as a user runs it."""

    async def run(*args: str) -> tuple[int, str]:
        env = {"RELAY_ROUTER_DATABASE_URL": url}
        return await asyncio.to_thread(relay, env, "reviews", "list", *args)

    return run


async def test_reviews_list_shows_roll_record_and_same_child_reviews_with_their_kind(
    db: Database, listed: Callable[..., Any]
) -> None:
    # Zoe's NHS number is on Oliver's roll record: the school waits for a person.
    roll_record = (await routed(db, event("reported", "MP/7", CHILD))).on("identity-reviews")
    # Grace's second episode has another police person id: the same child as D1?
    await routed(db, event("reported", "D1", {**GRACE, "police_person_id": "A1"}))
    same = (await routed(db, event("reported", "D2", {**GRACE, "police_person_id": "A2"}))).on(
        "identity-reviews"
    )
    [school_review], [child_review] = roll_record, same
    earlier, this_one = await child_of(db, "D1"), await child_of(db, "D2")

    code, out = await listed("--json")
    assert code == 0, out
    rows = {r["review_id"]: r for r in json.loads(out)}
    assert {r["kind"] for r in rows.values()} == {"roll-record", "same-child"}
    school = rows[school_review.review_id]
    assert (school["kind"], school["org_code"], school["state"]) == (
        "roll-record",
        "100001",
        "pending",
    )
    assert [c["roll_record_id"] for c in school["candidates"]] == ["S9"]
    child = rows[child_review.review_id]
    assert (child["kind"], child["state"], child["episode_ref"], child["child_id"]) == (
        "same-child",
        "pending",
        "D2",
        this_one,
    )
    assert child["candidates"] == [{"child_id": earlier, "episodes": 1}]

    code, out = await listed("--kind", "same-child", "--json")
    assert code == 0 and [r["review_id"] for r in json.loads(out)] == [child_review.review_id]
    code, out = await listed("--kind", "roll-record", "--json")
    assert code == 0 and [r["review_id"] for r in json.loads(out)] == [school_review.review_id]

    code, text = await listed()
    assert code == 0, text
    [school_line] = [line for line in text.splitlines() if school_review.review_id in line]
    assert "roll-record  pending" in school_line and "org 100001" in school_line
    [child_line] = [line for line in text.splitlines() if child_review.review_id in line]
    assert "same-child  pending" in child_line and f"child {this_one}" in child_line
    assert f"the same child as {earlier}?  1 episode(s)" in text
    assert text.rstrip().endswith("2 review(s)")
    for personal in (*PERSONAL, "Grace", "Hall", "2012-03-04"):
        assert personal not in out and personal not in text

    # A person says yes: the listing shows it decided, and to which child.
    yes = IdentityDecisionV1(
        message_id=derived_id(child_review.review_id, "decision"),
        review_id=child_review.review_id,
        decision="match",
        child_id=earlier,
        decided_by="mash.lee",
        decided_at=datetime.now(UTC),
    )
    async with db.transaction() as session:
        await on_identity_decision(session, yes, Published())  # type: ignore[arg-type]
    code, out = await listed("--kind", "same-child", "--state", "matched", "--json")
    [decided] = json.loads(out)
    assert (decided["state"], decided["decided_child_id"], decided["decided_by"]) == (
        "matched",
        earlier,
        "mash.lee",
    )
    assert decided["candidates"] == [{"child_id": earlier, "episodes": 2}]
    code, out = await listed("--state", "pending", "--json")
    assert [r["kind"] for r in json.loads(out)] == ["roll-record"]
    code, text = await listed("--kind", "same-child", "--state", "pending")
    assert code == 0 and "no pending same-child identity reviews" in text

    code, out = await listed("--kind", "twins")
    assert code == 2 and "--kind" in out and "roll-record, same-child" in out

"""One child across episodes in the console (issue 20), on the real database: the
router's links group the episodes (the highest revision wins, in any order); a merge or
split is asked on the child's identity page, refused with the field named when it
cannot be, published to child-identities-changes once confirmed, and audited; a child
merged away leads to its new page; a same-child review's decision names the child; the
migration gives the episodes read before it a child id."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from fastapi import FastAPI
from sqlalchemy import select, text

from schemas.base import derived_id
from schemas.child_identity import ChildIdentityChangeV1, ChildIdentityV1, LinkBasis
from schemas.episode import EpisodeEventV1, EventType
from schemas.messages import (
    ChildSummaryV1,
    EpisodeRefV1,
    IdentityCandidateV1,
    IdentityDecisionV1,
    IdentityReviewV1,
)
from services.console import handlers
from services.console.app import create_app
from services.console.tables import episodes, metadata
from services.runtime.database import Database
from services.runtime.migrations import alembic_config, upgrade
from services.runtime.settings import RelaySettings
from tests.clock import MovableClock
from tests.console_login import add_users, client_of, csrf_of, sign_in
from tests.schema import schema_drift

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
GRACE = {"given_name": "Grace", "family_name": "Hall", "date_of_birth": "2012-03-04"}
GRACIE = {**GRACE, "given_name": "Gracie"}
JO = {"given_name": "Jo", "family_name": "Lund", "date_of_birth": "2011-09-09"}
A = "5b1f8a3c-2e4d-5f60-8a1b-9c0d7e6f5a42"
B = "e3a94c27-8b15-5d6f-a0c2-7f1e5b3d9a08"
C = "0f6e1d2c-3b4a-5968-8776-655443322110"


def police(ref: str, at: datetime, child: dict[str, Any]) -> EpisodeEventV1:
    return EpisodeEventV1.model_validate(
        {
            "message_id": f"m-{ref}",
            "event_id": f"{ref}-reported",
            "type": "reported",
            "occurred_at": at,
            "force_code": "10",
            "episode_ref": ref,
            "child": child,
            "accepted_at": at,
            "source": "test",
            "risk": {"grade": "medium"},
        }
    )


def link(ref: str, child_id: str, revision: int, previous: str | None = None) -> ChildIdentityV1:
    return ChildIdentityV1(
        message_id=ChildIdentityV1.id_for("10", ref, revision),
        child_id=child_id,
        force_code="10",
        episode_ref=ref,
        revision=revision,
        basis=LinkBasis.MATCHED if revision == 1 else LinkBasis.MERGED,
        previous_child_id=previous,
        at=T0,
    )


async def handle(app: FastAPI, handler: Any, message: Any) -> None:
    async with app.state.runtime.db.transaction() as session:
        await handler(session, message, None)


@pytest.fixture
async def console(tmp_path: Any, database_url: Callable[[str], str]) -> AsyncIterator[FastAPI]:
    url = await asyncio.to_thread(database_url, "console")
    await asyncio.to_thread(upgrade, "console", url)
    app = create_app(
        RelaySettings(console_database_url=url, var_dir=tmp_path, topic_prefix="t."),
        clock=MovableClock(T0 + timedelta(days=10)),
    )
    await add_users(app)
    for ref, child, child_id in (("G1", GRACE, A), ("G2", GRACIE, B), ("J1", JO, C)):
        await handle(app, handlers.on_episode_event, police(ref, T0, child))
        await handle(app, handlers.on_child_identity, link(ref, child_id, 1))
    yield app
    await app.state.runtime.db.dispose()


async def child_ids(app: FastAPI) -> dict[str, str]:
    async with app.state.runtime.db.transaction() as session:
        rows = await session.execute(select(episodes.c.episode_ref, episodes.c.child_id))
        return dict(rows.all())


async def published(app: FastAPI) -> list[tuple[str, Any]]:
    outbox = app.state.runtime.tables.outbox
    async with app.state.runtime.db.transaction() as session:
        rows = await session.execute(select(outbox.c.topic, outbox.c.payload).order_by(outbox.c.id))
        return [(topic, json.loads(payload)) for topic, payload in rows]


async def test_the_highest_revision_wins_whatever_the_order(console: FastAPI) -> None:
    # A merge of G2 into A (revision 2) arrives; then the first link again (a replay).
    await handle(console, handlers.on_child_identity, link("G2", A, 2, previous=B))
    await handle(console, handlers.on_child_identity, link("G2", B, 1))
    assert (await child_ids(console))["G2"] == A
    # An alert naming the old child changes nothing once the router's link is here.
    async with client_of(console) as client:
        await sign_in(client, "chair")
        page = await client.get(f"/children/{A}")
        assert "2 in all" in page.text and "Gracie" not in page.text.split("<h1>")[1][:40]
        # B lost its only episode: its page leads to A's.
        moved = await client.get(f"/children/{B}", follow_redirects=False)
        assert moved.status_code == 303 and moved.headers["location"] == f"/children/{A}"


async def test_merge_is_checked_shown_side_by_side_confirmed_published_and_audited(
    console: FastAPI,
) -> None:
    async with client_of(console) as client:
        await sign_in(client, "mash")
        page = await client.get(f"/children/{A}/identity")
        assert page.status_code == 200 and "Merge or split Grace Hall" in page.text
        assert B in page.text.split('id="suggested"')[1]  # born the same day
        csrf = csrf_of(page.text)
        into_itself = await client.post(
            f"/children/{A}/merge", data={"csrf_token": csrf, "into": A, "step": "check"}
        )
        assert into_itself.status_code == 400
        assert 'href="#into">A child cannot be merged into itself.' in into_itself.text
        # Asked for the other child's id again, not offered itself side by side.
        assert 'id="into"' in into_itself.text and 'id="other-child"' not in into_itself.text
        unknown = await client.post(
            f"/children/{A}/merge", data={"csrf_token": csrf, "into": "nobody", "step": "check"}
        )
        assert unknown.status_code == 400 and "No child has the id nobody." in unknown.text
        # Different dates of birth: shown side by side, refused until confirmed.
        check = await client.post(
            f"/children/{A}/merge", data={"csrf_token": csrf, "into": C, "step": "check"}
        )
        assert check.status_code == 200
        assert 'id="this-child"' in check.text and 'id="other-child"' in check.text
        assert "The two children have different dates of birth" in check.text
        unconfirmed = await client.post(
            f"/children/{A}/merge",
            data={"csrf_token": csrf, "into": C, "step": "confirm", "reason": "same school"},
        )
        assert unconfirmed.status_code == 400
        assert 'href="#confirm_dates"' in unconfirmed.text
        no_reason = await client.post(
            f"/children/{A}/merge",
            data={"csrf_token": csrf, "into": B, "step": "confirm", "reason": " "},
        )
        assert no_reason.status_code == 400 and 'href="#reason"' in no_reason.text
        assert await published(console) == []
        sent = await client.post(
            f"/children/{A}/merge",
            data={
                "csrf_token": csrf,
                "into": B,
                "step": "confirm",
                "reason": "Same NHS number on the school's record",
            },
        )
        assert sent.status_code == 200 and 'id="change-sent"' in sent.text
    [(topic, message)] = await published(console)
    assert topic == "t.child-identity-changes.v1"
    change = ChildIdentityChangeV1.model_validate(message)
    assert (change.action, change.child_id, change.into_child_id) == ("merge", A, B)
    assert (change.requested_by, change.confirmed_different_dates_of_birth) == ("mash", False)
    async with client_of(console) as client:
        await sign_in(client, "admin")
        audit = (await client.get("/admin/audit")).text
        assert "Merge child" in audit and f"into {B}" in audit and "Grace" not in audit
    async with client_of(console) as client:
        await sign_in(client, "rhi-north")  # an RHI worker may not
        assert (await client.get(f"/children/{A}/identity")).status_code == 403


async def test_split_names_the_episodes_and_keeps_one(console: FastAPI) -> None:
    await handle(console, handlers.on_child_identity, link("G2", A, 2, previous=B))
    async with client_of(console) as client:
        await sign_in(client, "chair")
        page = await client.get(f"/children/{A}/identity")
        csrf = csrf_of(page.text)
        none = await client.post(
            f"/children/{A}/split", data={"csrf_token": csrf, "reason": "twins"}
        )
        assert none.status_code == 400 and 'href="#episodes"' in none.text
        every = await client.post(
            f"/children/{A}/split",
            data={"csrf_token": csrf, "reason": "twins", "episode": ["10:G1", "10:G2"]},
        )
        assert every.status_code == 400 and "at least one episode" in every.text
        sent = await client.post(
            f"/children/{A}/split",
            data={"csrf_token": csrf, "reason": "Gracie is her twin", "episode": ["10:G2"]},
        )
        assert sent.status_code == 200 and "Split sent" in sent.text
    [(_, message)] = await published(console)
    change = ChildIdentityChangeV1.model_validate(message)
    assert [(e.force_code, e.episode_ref) for e in change.episodes] == [("10", "G2")]
    assert change.new_child_id in sent.text


async def test_a_same_child_review_is_decided_with_the_child(console: FastAPI) -> None:
    review = IdentityReviewV1(
        message_id="r-same",
        review_id="r-same",
        question="same-child",
        child_id=B,
        episode=EpisodeRefV1(
            force_code="10",
            episode_ref="G2",
            event_id="G2-reported",
            event_message_id="m-G2",
            event_type=EventType.REPORTED,
            occurred_at=T0,
        ),
        child=ChildSummaryV1(given_name="Gracie", family_name="Hall", date_of_birth=T0.date()),
        candidates=[
            IdentityCandidateV1(
                child_id=A,
                score=14.5,
                explanation={"given_name": "partial:nickname", "rule": "threshold"},
                given_name="Grace",
                family_name="Hall",
                episodes=1,
                latest_episode_ref="10/G1",
            )
        ],
        requested_at=T0,
    )
    await handle(console, handlers.on_identity_review, review)
    async with client_of(console) as client:
        await sign_in(client, "mash")
        queue = await client.get("/reviews")
        assert "The same child as an earlier one?" in queue.text
        page = await client.get("/reviews/r-same")
        assert "Is this the same child as one seen before?" in page.text and A in page.text
        csrf = csrf_of(page.text)
        stranger = await client.post("/reviews/r-same", data={"csrf_token": csrf, "record": C})
        assert stranger.status_code == 400 and "Choose a child" in stranger.text
        sent = await client.post("/reviews/r-same", data={"csrf_token": csrf, "record": A})
        assert sent.status_code == 200
    [(topic, message)] = await published(console)
    decision = IdentityDecisionV1.model_validate(message)
    assert topic == "t.identity-decisions.v1"
    assert (decision.decision, decision.child_id, decision.roll_record_id) == ("match", A, None)
    assert decision.message_id == derived_id("r-same", "decision")


async def test_the_migration_gives_episodes_read_before_it_a_child_id(
    tmp_path: Any, database_url: Callable[[str], str]
) -> None:
    url = await asyncio.to_thread(database_url, "console")
    await asyncio.to_thread(upgrade, "console", url, "0007")
    db = Database(url)
    try:
        async with db.transaction() as session:
            for ref, key in (("O1", "a" * 64), ("O2", "a" * 64), ("O3", "b" * 64)):
                await session.execute(
                    text(
                        "INSERT INTO console_episodes (episode_key, force_code, episode_ref,"
                        " event_count, updated_at, child_key) VALUES (:k, '10', :ref, 1, :at, :key)"
                    ),
                    {"k": f"10:{ref}", "ref": ref, "at": T0, "key": key},
                )
        await db.dispose()
        await asyncio.to_thread(upgrade, "console", url)
        assert await schema_drift(db, metadata) == []
        async with db.transaction() as session:
            got = dict(
                (await session.execute(select(episodes.c.episode_ref, episodes.c.child_id))).all()
            )
        assert got["O1"] == got["O2"] == derived_id("child", "console-key", "a" * 64)
        assert got["O3"] != got["O1"]
        await db.dispose()
        await asyncio.to_thread(command.downgrade, alembic_config("console", url), "0007")
        await asyncio.to_thread(upgrade, "console", url)
        assert await schema_drift(db, metadata) == []
    finally:
        await db.dispose()

"""Deciding an identity review in the console, on the real database (SQLite, or
PostgreSQL with RELAY_TEST_DATABASE_URL): the police record beside the candidates and
the matcher's explanation; the decision goes to the outbox for ``identity-decisions``
with the reviewer's name; a chair may look, not decide."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from schemas.episode import EventType
from schemas.messages import (
    ChildSummaryV1,
    EpisodeRefV1,
    IdentityCandidateV1,
    IdentityDecisionV1,
    IdentityReviewV1,
)
from services.console import handlers
from services.console.app import create_app
from services.console.tables import audit
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings
from tests.console_login import add_users, client_of, csrf_of, sign_in

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def review() -> IdentityReviewV1:
    candidates = [
        IdentityCandidateV1(
            org_code="100001",
            roll_record_id=record,
            score=score,
            explanation={"given_name": given_level, "date_of_birth": "agree:exact"},
            org_name="Ashington Academy",
            given_name=given,
            family_name="Hart",
            date_of_birth=date(2012, 3, 4),
            postcode="NE63 9YH",
        )
        for record, given, given_level, score in (
            ("S1", "Amelia", "agree:exact", 11.2),
            ("S2", "Amelie", "partial:jw", 10.9),
        )
    ]
    return IdentityReviewV1(
        message_id="r1",
        review_id="r1",
        episode=EpisodeRefV1(
            force_code="10",
            episode_ref="NB-1",
            event_id="NB-1-reported",
            event_message_id="m-NB-1",
            event_type=EventType.REPORTED,
            occurred_at=T0,
        ),
        child=ChildSummaryV1(
            given_name="Amelia", family_name="Hart", date_of_birth=date(2012, 3, 4)
        ),
        candidates=candidates,
        requested_at=T0,
    )


@pytest.fixture
async def console(tmp_path: Any, database_url: Callable[[str], str]) -> AsyncIterator[FastAPI]:
    url = await asyncio.to_thread(database_url, "console")
    await asyncio.to_thread(upgrade, "console", url)
    app = create_app(RelaySettings(console_database_url=url, var_dir=tmp_path))
    await add_users(app)
    async with app.state.runtime.db.transaction() as session:
        await handlers.on_identity_review(session, review(), None)
    yield app
    await app.state.runtime.db.dispose()


async def test_a_reviewer_sees_both_sides_and_the_decision_is_published(console: FastAPI) -> None:
    async with client_of(console) as client:
        await sign_in(client, "mash")
        queue = await client.get("/reviews")
        assert 'href="/reviews/r1"' in queue.text and "100001" in queue.text
        page = await client.get("/reviews/r1")
        text = page.text
        assert "Ashington Academy" in text and "Amelia Hart" in text and "2012-03-04" in text
        assert "Amelie" in text and "partial:jw" in text and "NE63 9YH" in text
        # Seeing the child's record beside the candidates is audited, by review id.
        async with console.state.runtime.db.transaction() as session:
            seen = (
                await session.execute(select(audit.c.username, audit.c.action, audit.c.subject))
            ).all()
        assert ("mash", "view-review", "r1") in [tuple(r) for r in seen]
        csrf = csrf_of(text)
        unchosen = await client.post("/reviews/r1", data={"csrf_token": csrf})
        assert unchosen.status_code == 400 and "Choose a record, or none of them." in unchosen.text
        stranger = await client.post("/reviews/r1", data={"csrf_token": csrf, "record": "S9"})
        assert stranger.status_code == 400
        sent = await client.post("/reviews/r1", data={"csrf_token": csrf, "record": "S1"})
        assert sent.status_code == 200 and "Decision sent: record S1" in sent.text

    outbox = console.state.runtime.tables.outbox
    async with console.state.runtime.db.transaction() as session:
        rows = (await session.execute(select(outbox.c.topic, outbox.c.key, outbox.c.payload))).all()
    assert [(r.topic, r.key) for r in rows] == [("identity-decisions.v1", "r1")]
    decision = json.loads(rows[0].payload)
    assert (decision["decision"], decision["roll_record_id"], decision["decided_by"]) == (
        "match",
        "S1",
        "mash",
    )

    async with client_of(console) as client:
        await sign_in(client, "chair")
        looked = await client.get("/reviews/r1")
        assert looked.status_code == 200 and "Send the decision" not in looked.text
        assert (await client.post("/reviews/r1", data={"record": "S2"})).status_code == 403

    async with console.state.runtime.db.transaction() as session:
        await handlers.on_identity_decision(
            session,
            IdentityDecisionV1(
                message_id="d1",
                review_id="r1",
                decision="match",
                roll_record_id="S1",
                decided_by="mash",
                decided_at=T0,
            ),
            None,
        )
    async with client_of(console) as client:
        await sign_in(client, "mash")
        assert "No review is waiting." in (await client.get("/reviews")).text
        again = await client.get("/reviews/r1")
        assert "Send the decision" not in again.text and "by mash: Match" in again.text

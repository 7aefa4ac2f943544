"""Ingest's accepted-event log written with its key look-up and duplicate check on the
driver (issue 18: ``Database.run``, the statements as Prepared ones on SQLite): an event
another request logged between this one's duplicate check and its insert is answered as
a duplicate and logged once, alone or among others of a batch, on SQLite and PostgreSQL
(RELAY_TEST_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import select, text

from services.ingest import repository
from services.ingest.acceptance import accepted_event
from services.ingest.intake import Decided, Intake, Item, decide_all
from services.ingest.publishing import DirectPublisher, Outgoing
from services.ingest.tables import events
from services.runtime.database import Database, utcnow
from services.runtime.messaging import OutboxRelay
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings
from tests.integration.test_ingest_api import event, running


class _Acknowledging:
    """A broker that has every message at once (the log's insert follows its ack)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_all(self, messages: Sequence[Outgoing]) -> list[BaseException | None]:
        self.sent += [m.message_id for m in messages]
        return [None] * len(messages)


async def _race(url: str, bodies: list[dict[str, Any]], logged_first: int) -> dict[str, Any]:
    """Submit ``bodies`` as checked before any was logged, with the ``logged_first``-th
    logged meanwhile by another request."""
    db = Database(url)
    try:
        intake = Intake(
            db,
            cast(DirectPublisher, _Acknowledging()),
            RelaySettings(),
            cast(OutboxRelay, None),  # not woken: nothing here writes the outbox
        )
        items = [Item(body, json.dumps(body)) for body in bodies]
        decided = Decided("10", decide_all(items, "10"), known=set())  # none seen yet
        first = decided.decisions[logged_first]
        async with db.transaction() as session:
            other = accepted_event(first.submission, "other", utcnow())  # type: ignore[union-attr]
            await repository.add_events(session, [other])
        results = await intake.submit(
            items, key_force="10", source="test", channel="http", decided=decided
        )
        async with db.transaction() as session:
            logged = (await session.execute(select(events.c.event_id, events.c.payload))).all()
        return {
            "statuses": [r.status for r in results],
            "logged": sorted(event_id for event_id, _ in logged),
            "sources": {event_id: json.loads(payload)["source"] for event_id, payload in logged},
        }
    finally:
        await db.dispose()


def test_an_event_logged_meanwhile_is_a_duplicate(database_url: Callable[[str], str]) -> None:
    url = database_url("one")
    upgrade("ingest", url)
    alone = asyncio.run(_race(url, [event("RACE-1")], 0))
    assert alone == {
        "statuses": ["duplicate"],
        "logged": ["RACE-1"],
        "sources": {"RACE-1": "other"},
    }
    url = database_url("batch")
    upgrade("ingest", url)
    batch = asyncio.run(_race(url, [event("RACE-2"), event("RACE-3"), event("RACE-4")], 1))
    assert batch == {
        "statuses": ["accepted", "duplicate", "accepted"],
        "logged": ["RACE-2", "RACE-3", "RACE-4"],
        "sources": {"RACE-2": "test", "RACE-3": "other", "RACE-4": "test"},
    }


async def test_a_store_that_fails_gives_503(settings: RelaySettings) -> None:
    """The key look-up's and the log's statements failing (on SQLite the driver's own
    errors, the statements running on it) answer 503 "retry", as SQLAlchemy's do."""
    async with running(settings) as r:
        db = r.app.state.runtime.db
        async with db.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE ingest_events RENAME TO ingest_events_away"))
        answer = await r.client.post("/v1/episode-events", json=event("S-1"), headers=r.auth())
        assert answer.status_code == 503
        assert "retry" in answer.json()["error"]
        async with db.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE ingest_api_keys RENAME TO ingest_keys_away"))
        answer = await r.client.post("/v1/episode-events", json=event("S-2"), headers=r.auth())
        assert answer.status_code == 503

"""The delivery loop's claim on the driver (repository.claim_due_on, issue 18) takes the
alerts, and writes the rows, that its statements through SQLAlchemy's own execution
took and wrote: the same alerts in the same order with the same typed values, the same
``notifier_alerts`` and ``notifier_attempts`` rows as stored (the text of times
included). On SQLite, and on PostgreSQL when ``RELAY_TEST_DATABASE_URL`` is set."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.engine import Connection

from schemas.messages import AlertKind, AlertState, OrgKind
from services.notifier import handlers, repository
from services.notifier.repository.alerts import DUE_STATES, as_alert
from services.notifier.repository.sending import _CLAIM, _DUE, _OPEN_ATTEMPT
from services.notifier.tables import alerts, messaging
from services.runtime.database import Database
from services.runtime.handling import Outbox
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings
from tests.integration.test_notifier_delivery import episode, request

NOW = datetime(2026, 12, 4, 10, 0, 0, 654321, tzinfo=UTC)
STORED = NOW - timedelta(minutes=5)  # both databases' rows written at the same time


def _through_sqlalchemy(connection: Connection, now: datetime, limit: int) -> list[Any]:
    """The claim as it ran before issue 18's change: each statement through
    ``Connection.execute``."""
    rows = sorted(
        (
            row
            for state in DUE_STATES
            for row in connection.execute(
                _DUE.statement, {"b_state": state, "b_now": now, "b_limit": limit}
            )
        ),
        key=lambda row: (row.due_at, row.created_at),
    )[:limit]
    claimed = [repository.Claimed(a, a.attempts + 1) for a in map(as_alert, rows)]
    if claimed:
        connection.execute(
            _CLAIM.statement,
            [
                {"b_alert_id": c.alert.alert_id, "b_attempt": c.attempt, "b_now": now}
                for c in claimed
            ],
        )
        connection.execute(
            _OPEN_ATTEMPT.statement,
            [
                {
                    "alert_id": c.alert.alert_id,
                    "attempt": c.attempt,
                    "started_at": now,
                    "outcome": AlertState.SENDING.value,
                }
                for c in claimed
            ],
        )
    return claimed


async def _stored(url: str, messages: list[Any]) -> Database:
    await asyncio.to_thread(upgrade, "notifier", url)
    db, settings = Database(url), RelaySettings()
    for m in messages:
        async with db.transaction() as session:
            await handlers.on_alert_requested(
                session, m, Outbox(session, messaging, settings), now=lambda: STORED
            )
    async with db.transaction() as session:
        # Due a second apart, one of them retried once before (temporary-failure).
        for n, m in enumerate(messages):
            values: dict[str, Any] = {"due_at": NOW - timedelta(seconds=10 - n)}
            if n == 1:
                values.update(state=AlertState.TEMPORARY_FAILURE.value, attempts=1)
            await session.execute(
                update(alerts).where(alerts.c.alert_id == m.alert_id).values(**values)
            )
    return db


async def _table(db: Database, name: str, order: str) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as connection:
        return [
            tuple(r)
            for r in await connection.execute(text(f"SELECT * FROM {name} ORDER BY {order}"))
        ]


async def test_the_claim_on_the_driver_takes_and_writes_what_sqlalchemy_did(
    database_url: Callable[[str], str],
) -> None:
    ep = episode()
    messages = [
        request(ep, "100001", OrgKind.SCHOOL, "dsl@hillside.example"),
        request(ep, "A81001", OrgKind.GP_PRACTICE, "practice@surgery.example"),
        request(ep, "E06000057", OrgKind.LOCAL_AUTHORITY, "la@council.example", AlertKind.REPORTED),
        request(ep, "100002", OrgKind.SCHOOL, "dsl@other.example"),
    ]
    urls = await asyncio.to_thread(lambda: (database_url("claim-a"), database_url("claim-b")))
    ours, theirs = await _stored(urls[0], messages), await _stored(urls[1], messages)
    try:
        taken = []
        for limit in (3, 10):  # a batch that leaves one, then the rest
            mine = await ours.run(
                partial(repository.claim_due_on, now=NOW, limit=limit), urgent=True
            )
            reference = await theirs.run(
                partial(_through_sqlalchemy, now=NOW, limit=limit), urgent=True
            )
            assert mine == reference
            taken.append([(c.alert.alert_id, c.attempt) for c in mine])
        ids = [m.alert_id for m in messages]
        assert taken == [[(ids[0], 1), (ids[1], 2), (ids[2], 1)], [(ids[3], 1)]]
        assert await ours.run(lambda c: repository.claim_due_on(c, NOW, 10)) == []
        for name in ("notifier_alerts", "notifier_attempts"):
            rows = await _table(ours, name, "alert_id")
            assert len(rows) == 4
            assert rows == await _table(theirs, name, "alert_id")
    finally:
        await ours.dispose()
        await theirs.dispose()

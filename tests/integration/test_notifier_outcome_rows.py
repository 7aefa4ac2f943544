"""The delivery loop's outcome transactions store what they stored when every statement
went through SQLAlchemy's own execution and every ``alert-status`` was the model's JSON
(issue 18): the attempts, the alerts, the audit chain (which verifies) and the outbox,
times' text included, for groups of one and of several, a failure among them. On SQLite
(on a connection kept between ``Database.run``'s transactions, its statements on the
driver) and on PostgreSQL when ``RELAY_TEST_DATABASE_URL`` is set."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Table

from schemas.messages import AlertState
from services.notifier import repository, scheduler
from services.notifier.delivery import FailureKind, SendFailure
from services.notifier.handlers import on_alert_requested
from services.notifier.model import Alert
from services.notifier.rendering import Renderer
from services.notifier.scheduler import Attempted, DeliveryScheduler
from services.notifier.smtp import SmtpMailer
from services.notifier.statuses import alert_status
from services.notifier.tables import (
    alerts,
    attempts,
    audit_chains,
    disclosures,
    messaging,
    metadata,
)
from services.runtime import audit_chain
from services.runtime.database import Database
from services.runtime.handling import Outbox
from services.runtime.prepared import Prepared
from services.runtime.settings import RelaySettings
from tests.unit.notifier_examples import COUNCIL, SCHOOL, episode, request

# Monday 7 December 2026, 10:00: in hours, every alert due at once.
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
_TABLES: tuple[tuple[Table, str], ...] = (
    (alerts, "alert_id"),
    (attempts, "alert_id, attempt"),
    (disclosures, "seq"),
    (audit_chains, "chain"),
    (messaging.outbox, "message_id, topic"),
)
# Stamped with the wall clock when written, and ids in the order of commits.
_WALL = {"id", "created_at", "published_at"}
# Groups as the senders hand them in; the fourth alert's attempt fails.
_GROUPS = (1, 3, 1, 2, 1)
_FAILS = 3


def _model_json(alert: Alert, state: AlertState, at: datetime, attempt: int = 0) -> tuple[str, str]:
    message = alert_status(alert, state, at, attempt)
    return message.message_id, message.model_dump_json()


async def _deliver(url: str) -> dict[str, list[dict[str, Any]]]:
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        settings, clock = RelaySettings(), partial(lambda at: at, NOW)
        for n in range(1, 5):
            for to in (SCHOOL, COUNCIL):
                async with db.transaction() as session:
                    out = Outbox(session, messaging, settings)
                    await on_alert_requested(session, request(episode(n=n), to), out, now=clock)
        mailer = SmtpMailer("smtp://127.0.0.1:1")  # never connected: nothing is sent
        loop = DeliveryScheduler(
            db,
            messaging,
            settings,
            Renderer("https://console.example/", "Relay <relay@relay.example>"),  # not used
            mailer,
            now=clock,
            rng=random.Random(18),
        )
        claimed = await db.run(partial(repository.claim_due_on, now=NOW, limit=50))
        assert len(claimed) == 8
        done = [
            Attempted(
                c.alert,
                c.attempt,
                SendFailure(FailureKind.TEMPORARY, "451 try later", 451) if n == _FAILS else None,
                ("child_name", "date_of_birth"),
            )
            for n, c in enumerate(claimed)
        ]
        start = 0
        for size in _GROUPS:
            await loop._record_once(done[start : start + size])
            start += size
        async with db.transaction() as session:
            assert (await audit_chain.verify(session, audit_chains, disclosures)).intact
        return await _stored(db)
    finally:
        await db.dispose()


async def _stored(db: Database) -> dict[str, list[dict[str, Any]]]:
    """The rows as the database keeps them (the driver's values: on SQLite a time's text)."""
    read: dict[str, list[dict[str, Any]]] = {}
    async with db.engine.connect() as conn:
        for table, key in _TABLES:
            rows = (
                await conn.exec_driver_sql(f"SELECT * FROM {table.name} ORDER BY {key}")
            ).mappings()
            read[table.name] = [{k: v for k, v in r.items() if k not in _WALL} for r in rows]
    return read


def test_outcomes_store_what_sqlalchemy_and_the_model_stored(
    database_url: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    now = asyncio.run(_deliver(database_url("now")))
    with monkeypatch.context() as patch:
        patch.setattr(Prepared, "_for", lambda self, dialect, names: None)
        patch.setattr(scheduler, "alert_status_json", _model_json)
        before = asyncio.run(_deliver(database_url("before")))
    states = [r["state"] for r in now[alerts.name]]
    assert states.count("sent") == 7 and states.count("temporary-failure") == 1
    assert len(now[disclosures.name]) == 7
    assert sum(r["payload"].find('"state":"sent"') >= 0 for r in now[messaging.outbox.name]) == 7
    for table, _ in _TABLES:
        assert now[table.name] == before[table.name], table.name

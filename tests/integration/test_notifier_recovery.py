"""The delivery loop on the real database and SMTP server, without the broker: a crash
between SMTP and the commit, a refused recipient, an acknowledgement before sending."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from relay.smtp_sink import SinkHandler
from schemas.messages import AcknowledgementV1, AlertKind, OrgKind
from services.notifier import handlers, repository
from services.notifier.rendering import AlertContent, Renderer
from services.notifier.scheduler import DeliveryScheduler
from services.notifier.settings import NotifierSettings
from services.notifier.smtp import SmtpMailer
from services.notifier.tables import messaging
from services.runtime.database import Database
from services.runtime.handling import Outbox
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings
from tests.integration.test_notifier_delivery import episode, request


@pytest.fixture
def notifier_url(database_url: Callable[[str], str]) -> str:
    # Outside the event loop: on PostgreSQL the fixture creates the database itself.
    return database_url("notifier")


async def setup(url: str, smtp_url: str) -> tuple[Database, RelaySettings, DeliveryScheduler]:
    await asyncio.to_thread(upgrade, "notifier", url)
    settings = RelaySettings(notifier_database_url=url, smtp_url=smtp_url)
    db = Database(url)
    scheduler = DeliveryScheduler(
        db,
        messaging,
        settings,
        Renderer(settings.public_url, NotifierSettings.of(settings).smtp_from),
        SmtpMailer(settings.smtp),
    )
    return db, settings, scheduler


async def outbox_states(db: Database) -> list[str]:
    async with db.transaction() as session:
        payloads = (
            await session.execute(
                select(messaging.outbox.c.payload).order_by(messaging.outbox.c.id)
            )
        ).scalars()
        return [json.loads(p)["state"] for p in payloads]


async def test_a_crash_mid_send_resends_with_the_same_message_id_and_failures_are_recorded(
    notifier_url: str,
    smtp_server: tuple[str, SinkHandler],
) -> None:
    smtp_url, sink = smtp_server
    db, settings, scheduler = await setup(notifier_url, smtp_url)
    ep = episode()
    good = request(ep, "100001", OrgKind.SCHOOL, "dsl@hillside.example")
    refused = request(ep, "A81001", OrgKind.GP_PRACTICE, "nobody@surgery.example")
    acked = request(
        ep, "E06000057", OrgKind.LOCAL_AUTHORITY, "missing@council.example", AlertKind.REPORTED
    )
    sink.refuse["nobody@surgery.example"] = "550 5.1.1 no such mailbox"
    try:
        for m in (good, refused, acked):
            async with db.transaction() as session:
                await handlers.on_alert_requested(session, m, Outbox(session, messaging, settings))
        async with db.transaction() as session:
            ack = AcknowledgementV1(
                message_id="ack-1",
                alert_id=acked.alert_id,
                acknowledged_at=datetime.now(UTC),
                by="coordinator",
            )
            await handlers.on_acknowledgement(session, ack, Outbox(session, messaging, settings))

        # A process claims the school alert, sends it, and dies before recording it.
        async with db.transaction() as session:
            claimed = await repository.claim_due(session, datetime.now(UTC), 1)
        assert [c.alert.alert_id for c in claimed] == [good.alert_id]
        email = Renderer(settings.public_url, NotifierSettings.of(settings).smtp_from).compose(
            AlertContent.from_alert(claimed[0].alert), datetime.now(UTC)
        )
        async with SmtpMailer(settings.smtp).session() as smtp:
            assert await smtp.send(email, good.recipient.email) is None

        # The next process recovers it and sends it again, same Message-ID.
        assert await scheduler.recover() == [good.alert_id]
        assert await scheduler.run_once() == 2  # the school again, and the refused GP
        assert await scheduler.run_once() == 0

        async with db.transaction() as session:
            rows = {r.alert_id: r for r in await repository.list_alerts(session)}
            school_attempts = await repository.list_attempts(session, good.alert_id)
            gp_attempts = await repository.list_attempts(session, refused.alert_id)
        assert rows[good.alert_id].state == "sent"
        assert [a.outcome for a in school_attempts] == ["interrupted", "sent"]
        ids = [r.message["Message-ID"] for r in sink.received]
        assert ids == [f"<{good.alert_id}@missing-episode-relay>"] * 2

        assert rows[refused.alert_id].state == "permanent-failure"
        assert [(a.outcome, a.smtp_code) for a in gp_attempts] == [("permanent-failure", 550)]
        assert "550" in (rows[refused.alert_id].last_error or "")

        assert rows[acked.alert_id].state == "acknowledged"  # never emailed
        assert all(r.rcpt_tos != ["missing@council.example"] for r in sink.received)

        states = await outbox_states(db)
        assert states.count("queued") == 3
        assert states.count("sent") == 1 and states.count("permanent-failure") == 1
        assert states.count("acknowledged") == 1
    finally:
        await db.dispose()

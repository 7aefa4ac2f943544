"""Two copies of the notifier's delivery loop on one database (SQLite or PostgreSQL):
a copy that starts leaves the alerts its twin is sending alone, however long the
sending takes; the alerts a dead copy had claimed are taken over once its lease ends.
And within one copy: it sends on every connection of its SMTP pool at once, yet never
lets a connection send again before the outcome of its last email is committed, so a
crash repeats at most one email per connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from email import message_from_bytes

import pytest
from sqlalchemy import func, select

from relay.smtp_sink import SinkHandler
from schemas.messages import OrgKind
from services.notifier import handlers, repository
from services.notifier.delivery import SendFailure
from services.notifier.rendering import OutgoingEmail, Renderer
from services.notifier.scheduler import Attempted, DeliveryScheduler
from services.notifier.settings import NotifierSettings
from services.notifier.smtp import Mailer, SmtpMailer
from services.notifier.tables import attempts, messaging
from services.runtime.database import Database, utcnow
from services.runtime.handling import Outbox
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings
from tests.conftest import eventually
from tests.integration.test_notifier_delivery import episode, request

LEASE = timedelta(seconds=1)


class GatedMailer:
    """A mailer whose sends wait until ``gate`` opens: a copy in the middle of a batch."""

    connections = 1

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()
        self.sent: list[str] = []

    @asynccontextmanager
    async def session(self) -> AsyncIterator[GatedMailer]:
        yield self

    async def send(self, message: OutgoingEmail, recipient: str) -> SendFailure | None:
        self.waiting.set()
        await self.gate.wait()
        self.sent.append(str(message_from_bytes(message.raw)["Message-ID"]))
        return None

    async def close(self) -> None:
        return None


@pytest.fixture
def notifier_url(database_url: Callable[[str], str]) -> str:
    return database_url("notifier")


async def copy_of_notifier(url: str, mailer: Mailer) -> DeliveryScheduler:
    settings = RelaySettings(notifier_database_url=url, poll_interval_s=0.05)
    return DeliveryScheduler(
        Database(url),
        messaging,
        settings,
        Renderer(settings.public_url, NotifierSettings.of(settings).smtp_from),
        mailer,
        lease=LEASE,
    )


async def request_alerts(db: Database, count: int) -> list[str]:
    settings = RelaySettings()
    ep = episode()
    ids = []
    for n in range(count):
        m = request(ep, f"10000{n}", OrgKind.SCHOOL, f"dsl{n}@school.example")
        async with db.transaction() as session:
            await handlers.on_alert_requested(session, m, Outbox(session, messaging, settings))
        ids.append(m.alert_id)
    return ids


async def outcomes(db: Database, alert_ids: list[str]) -> dict[str, list[str]]:
    async with db.transaction() as session:
        return {
            alert_id: [a.outcome for a in await repository.list_attempts(session, alert_id)]
            for alert_id in alert_ids
        }


async def test_a_starting_copy_leaves_the_alerts_its_twin_is_sending_alone(
    notifier_url: str,
) -> None:
    await asyncio.to_thread(upgrade, "notifier", notifier_url)
    busy, idle = GatedMailer(), GatedMailer()
    idle.gate.set()
    twin = await copy_of_notifier(notifier_url, busy)
    starting = await copy_of_notifier(notifier_url, idle)
    ids = await request_alerts(twin.db, 3)
    loop = asyncio.get_running_loop()
    # The loop time of the starting copy's last sweep for old claims, and of each sweep
    # that a pass of sending followed (what the sweep took over would go in that pass).
    swept_at = [0.0]
    passes_after: list[float] = []
    recover, run_once = starting.recover, starting.run_once

    async def sweep(older_than: timedelta = timedelta(0)) -> list[str]:
        swept_at[0] = loop.time()
        return await recover(older_than)

    async def send_pass() -> int:
        sweep_before = swept_at[0]
        attempted = await run_once()
        passes_after.append(sweep_before)
        return attempted

    starting.recover = sweep  # type: ignore[method-assign]
    starting.run_once = send_pass  # type: ignore[method-assign]
    sending = asyncio.create_task(twin.run_once())
    started: asyncio.Task[None] | None = None
    try:
        await eventually(busy.waiting.is_set, 10, 0.01)  # the twin claimed all three
        claimed_by = loop.time()
        started = asyncio.create_task(starting.run())
        # The twin is stuck on its first email for three leases; it keeps its claims
        # renewed meanwhile, so neither the start nor the sweeps take them over: not even
        # a sweep (and the pass of sending after it) three leases after the claim.
        late = claimed_by + 3 * LEASE.total_seconds()
        await eventually(lambda: any(at >= late for at in passes_after), 30, 0.01)
        assert await outcomes(twin.db, ids) == {a: ["sending"] for a in ids}
        assert idle.sent == []

        busy.gate.set()
        assert await asyncio.wait_for(sending, 10) == 3
        assert await outcomes(twin.db, ids) == {a: ["sent"] for a in ids}
        assert sorted(busy.sent) == sorted(f"<{a}@missing-episode-relay>" for a in ids)
        assert idle.sent == []
    finally:
        for task in (sending, started):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await twin.db.dispose()
        await starting.db.dispose()


async def test_the_alerts_a_dead_copy_claimed_are_sent_by_another_after_the_lease(
    notifier_url: str, smtp_server: tuple[str, SinkHandler]
) -> None:
    smtp_url, sink = smtp_server
    await asyncio.to_thread(upgrade, "notifier", notifier_url)
    survivor = await copy_of_notifier(notifier_url, SmtpMailer(smtp_url))
    ids = await request_alerts(survivor.db, 2)
    # A copy claims both and dies before sending either: nobody renews its claims.
    async with survivor.db.transaction() as session:
        assert len(await repository.claim_due(session, utcnow(), 10)) == 2
    running = asyncio.create_task(survivor.run())
    try:
        await eventually(lambda: len(sink.received) >= 2, 15, 0.05)
        # The server accepts an email a moment before its outcome is committed.
        expected = {a: ["interrupted", "sent"] for a in ids}

        async def recorded() -> bool:
            return await outcomes(survivor.db, ids) == expected

        await eventually(recorded, 10, 0.05)
        async with survivor.db.transaction() as session:
            for alert_id in ids:
                first = (await repository.list_attempts(session, alert_id))[0]
                assert first.finished_at - first.started_at >= LEASE  # not taken before
        assert sorted(str(m.message["Message-ID"]) for m in sink.received) == sorted(
            f"<{a}@missing-episode-relay>" for a in ids
        )
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await survivor.mailer.close()
        await survivor.db.dispose()


class WatchingMailer:
    """A pool of two connections whose server takes a moment per email; at each send it
    notes how many emails it accepted that the database does not yet record as sent."""

    connections = 2

    def __init__(self) -> None:
        self.db: Database | None = None
        self.accepted = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.unrecorded_at_send: list[int] = []
        self.both_busy = asyncio.Event()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[WatchingMailer]:
        yield self

    async def send(self, message: OutgoingEmail, recipient: str) -> SendFailure | None:
        assert self.db is not None
        async with self.db.transaction() as session:
            recorded = await session.scalar(
                select(func.count()).select_from(attempts).where(attempts.c.outcome == "sent")
            )
        self.unrecorded_at_send.append(self.accepted - int(recorded or 0))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        if self.in_flight == self.connections:
            self.both_busy.set()
        # The server holds the first email until the other connection sends too (at most
        # 5 s): on a busy machine two 50 ms sends need not overlap by chance, and a pool
        # that sends on one connection at a time still fails the test below.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.both_busy.wait(), 5)
        await asyncio.sleep(0.05)  # long beside the look-up above, even on a busy machine
        self.in_flight -= 1
        self.accepted += 1
        return None

    async def close(self) -> None:
        return None


async def test_each_connection_records_its_email_before_sending_the_next(
    notifier_url: str,
) -> None:
    await asyncio.to_thread(upgrade, "notifier", notifier_url)
    mailer = WatchingMailer()
    scheduler = await copy_of_notifier(notifier_url, mailer)
    mailer.db = scheduler.db
    record = scheduler._record

    async def slow_record(group: list[Attempted]) -> None:
        await asyncio.sleep(0.1)  # a busy database: commits lag behind the sends
        await record(group)

    scheduler._record = slow_record  # type: ignore[method-assign]
    try:
        ids = await request_alerts(scheduler.db, 12)
        assert await scheduler.run_once() == 12

        assert mailer.accepted == 12
        assert mailer.most_in_flight == 2  # both connections at work at once
        # The other connection's last email, at most; never this connection's own.
        assert max(mailer.unrecorded_at_send) <= mailer.connections - 1
        async with scheduler.db.transaction() as session:
            for alert_id in ids:
                [attempt] = await repository.list_attempts(session, alert_id)
                assert attempt.outcome == "sent"
    finally:
        await scheduler.db.dispose()

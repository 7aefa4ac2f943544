"""Delivery over time on the real database and SMTP server, under a moved clock (issue 4):
retries on the backoff schedule while the SMTP server refuses connections, a 550 that
escalates at once, school deadlines at 08:30 on the next school day (bank holidays
skipped) escalating to the escalation contact and then the local authority, and RHI
reminders at 48 hours and escalations at 72."""

from __future__ import annotations

import asyncio
import email.policy
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from typing import Any

import pytest
from sqlalchemy import select

from relay.embedded import free_port
from relay.smtp_sink import SinkHandler, start_sink
from schemas.base import derived_id
from schemas.episode import EventType
from schemas.messages import (
    AcknowledgementV1,
    AlertKind,
    AlertRequestedV1,
    EpisodeRefV1,
    OrgKind,
    RecipientV1,
    RhiOutcome,
    RhiTaskOutcomeV1,
    RhiTaskRequestedV1,
)
from services.notifier import handlers, repository
from services.notifier.policy import DeliveryPolicy
from services.notifier.rendering import Renderer
from services.notifier.scheduler import DeliveryScheduler
from services.notifier.settings import NotifierSettings
from services.notifier.smtp import SmtpMailer
from services.notifier.tables import messaging
from services.runtime.database import Database
from services.runtime.handling import Outbox
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings
from tests.clock import MovableClock
from tests.integration.test_notifier_delivery import CHILD
from tests.integration.test_notifier_delivery import episode as delivery_episode

COUNCIL = RecipientV1(
    code="E06000057",
    kind=OrgKind.LOCAL_AUTHORITY,
    name="Northumberland Council",
    email="missing@council.example",
    escalation_email="duty@council.example",
)


@pytest.fixture
def notifier_url(database_url: Callable[[str], str]) -> str:
    return database_url("notifier")


@dataclass
class Notifier:
    db: Database
    settings: RelaySettings
    scheduler: DeliveryScheduler
    clock: MovableClock

    async def handle(self, handler: Any, message: Any, **kwargs: Any) -> None:
        async with self.db.transaction() as session:
            await handler(
                session,
                message,
                Outbox(session, messaging, self.settings),
                now=self.clock,
                **kwargs,
            )

    async def request(self, message: AlertRequestedV1) -> None:
        await self.handle(handlers.on_alert_requested, message, policy=self.scheduler.policy)

    async def at(self, moment: datetime) -> int:
        """Move the clock to ``moment`` and let the scheduler do what is due."""
        self.clock.set(moment)
        total = 0
        while attempted := await self.scheduler.run_once():
            total += attempted
        return total

    async def request_gp_alert(self, at: datetime) -> AlertRequestedV1:
        """A GP practice alert (practice manager as escalation contact), sent at ``at``."""
        m = alert_request(
            episode(at), "A81001", OrgKind.GP_PRACTICE, "gp@surgery.example", "pm@surgery.example"
        )
        await self.request(m)
        await self.at(at)
        return m

    async def acknowledge(self, alert_id: str, by: str | None = None) -> None:
        ack = AcknowledgementV1(
            message_id=f"ack-{alert_id}", alert_id=alert_id, acknowledged_at=self.clock(), by=by
        )
        await self.handle(handlers.on_acknowledgement, ack)

    async def alert(self, alert_id: str) -> Any:
        async with self.db.transaction() as session:
            return await repository.get_alert(session, alert_id)

    async def task(self, task_id: str) -> Any:
        async with self.db.transaction() as session:
            return await repository.get_task(session, task_id)

    async def statuses(self, topic_part: str) -> list[dict[str, Any]]:
        async with self.db.transaction() as session:
            rows = (
                await session.execute(
                    select(messaging.outbox.c.topic, messaging.outbox.c.payload).order_by(
                        messaging.outbox.c.id
                    )
                )
            ).all()
        return [json.loads(p) for topic, p in rows if topic_part in topic]


@asynccontextmanager
async def notifier(
    url: str, smtp_url: str, start: datetime, policy: DeliveryPolicy | None = None
) -> AsyncIterator[Notifier]:
    await asyncio.to_thread(upgrade, "notifier", url)
    settings = RelaySettings(notifier_database_url=url, smtp_url=smtp_url)
    db = Database(url)
    clock = MovableClock(start)
    scheduler = DeliveryScheduler(
        db,
        messaging,
        settings,
        Renderer(settings.public_url, NotifierSettings.of(settings).smtp_from),
        SmtpMailer(settings.smtp),
        now=clock,
        policy=policy or DeliveryPolicy(),
    )
    try:
        yield Notifier(db, settings, scheduler, clock)
    finally:
        await db.dispose()


def episode(occurred_at: datetime, event_type: EventType = EventType.REPORTED) -> EpisodeRefV1:
    return delivery_episode(event_type, occurred_at)


def alert_request(
    ep: EpisodeRefV1,
    code: str,
    kind: OrgKind,
    email: str,
    escalation_email: str | None = None,
    authority: RecipientV1 | None = COUNCIL,
) -> AlertRequestedV1:
    alert_kind = AlertKind(ep.event_type.value)
    alert_id = derived_id(ep.event_message_id, code, alert_kind.value)
    return AlertRequestedV1(
        message_id=alert_id,
        alert_id=alert_id,
        kind=alert_kind,
        recipient=RecipientV1(
            code=code,
            kind=kind,
            name=f"Org {code}",
            email=email,
            escalation_email=escalation_email,
        ),
        child=CHILD,
        episode=ep,
        reason="on roll",
        policy_rule="reported.default",
        requested_at=ep.occurred_at,
        authority=authority,
    )


def plain_text(mail: Any) -> str:
    message = message_from_bytes(mail.data, policy=email.policy.default)
    part = message.get_body(("plain",))  # type: ignore[attr-defined]
    return " ".join(part.get_content().split())


def to(sink: SinkHandler, address: str) -> list[Any]:
    return [r for r in sink.received if r.rcpt_tos == [address]]


async def test_smtp_refusing_connections_then_recovering_delivers_each_alert_once_on_schedule(
    notifier_url: str,
) -> None:
    port = free_port()  # nothing listens yet: every connection is refused
    start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    async with notifier(notifier_url, f"smtp://127.0.0.1:{port}", start) as n:
        ep = episode(start)
        requests = [
            alert_request(ep, f"10000{i}", OrgKind.GP_PRACTICE, f"gp{i}@surgery.example")
            for i in range(5)
        ]
        for m in requests:
            await n.request(m)

        # Three failed attempts, each only once its backoff has passed.
        assert await n.at(start) == 5
        gaps = []
        for attempt in (1, 2, 3):
            rows = [await n.alert(m.alert_id) for m in requests]
            assert {r.state for r in rows} == {"temporary-failure"}
            assert {r.attempts for r in rows} == {attempt}
            first_due = min(r.due_at for r in rows)
            gaps.append(first_due - n.clock())
            assert await n.at(first_due - timedelta(seconds=1)) == 0  # not yet due
            await n.at(max(r.due_at for r in rows))
        # 30 s, 60 s, 120 s (each +/- 20 % jitter): exponential backoff.
        for gap, base in zip(gaps, (30, 60, 120), strict=True):
            assert base * 0.8 <= gap.total_seconds() <= base * 1.2

        controller, sink = start_sink("127.0.0.1", port)
        try:
            rows = [await n.alert(m.alert_id) for m in requests]
            await n.at(max(r.due_at for r in rows))
            rows = [await n.alert(m.alert_id) for m in requests]
            assert {r.state for r in rows} == {"sent"}
            await n.at(n.clock() + timedelta(hours=6))
            for m in requests:  # once each, whatever happens later (escalations here)
                [mail] = to(sink, m.recipient.email)
                assert mail.message["Message-ID"] == f"<{m.alert_id}@missing-episode-relay>"
            async with n.db.transaction() as session:
                outcomes = [
                    a.outcome for a in await repository.list_attempts(session, rows[0].alert_id)
                ]
            assert outcomes == ["temporary-failure"] * 4 + ["sent"]
        finally:
            controller.stop()


async def test_after_the_retry_window_an_undeliverable_alert_escalates(notifier_url: str) -> None:
    port = free_port()
    start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    async with notifier(notifier_url, f"smtp://127.0.0.1:{port}", start) as n:
        m = await n.request_gp_alert(start)
        while (row := await n.alert(m.alert_id)).state == "temporary-failure":
            await n.at(row.due_at)
        # Undelivered at its 4-hour deadline, it escalated then (to the practice
        # manager, whose mail is queued too); it became a permanent failure only when the
        # retry window was over, and the practice manager keeps their time to act.
        assert row.state == "permanent-failure" and row.escalation_level == 1
        assert row.attempts >= 10
        assert n.clock() - start >= timedelta(hours=4)
        states = [
            s["state"] for s in await n.statuses("alert-status") if s["alert_id"] == m.alert_id
        ]
        assert states[-2:] == ["escalated", "permanent-failure"]

        controller, sink = start_sink("127.0.0.1", port)
        try:
            escalation_id = derived_id(m.alert_id, "escalation", "1")
            await n.at(n.clock() + timedelta(hours=1))  # its own retries back off too
            assert (await n.alert(escalation_id)).state == "sent"
            [mail] = to(sink, "pm@surgery.example")
            assert "(it could not be delivered)" in plain_text(mail)
        finally:
            controller.stop()


async def test_a_550_for_one_address_escalates_that_alert_and_the_others_go_through(
    notifier_url: str, smtp_server: tuple[str, SinkHandler]
) -> None:
    smtp_url, sink = smtp_server
    start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    sink.refuse["dsl@nowhere.example"] = "550 5.1.1 no such mailbox"
    async with notifier(notifier_url, smtp_url, start) as n:
        ep = episode(start)
        refused = alert_request(
            ep, "100001", OrgKind.SCHOOL, "dsl@nowhere.example", "head@school.example"
        )
        others = [
            alert_request(ep, "A81001", OrgKind.GP_PRACTICE, "gp@surgery.example"),
            alert_request(ep, "YOT1", OrgKind.YOT, "yot@council.example"),
        ]
        for m in (refused, *others):
            await n.request(m)
        await n.at(start)
        for m in others:
            assert (await n.alert(m.alert_id)).state == "sent"
            assert len(to(sink, m.recipient.email)) == 1
        row = await n.alert(refused.alert_id)
        assert row.state == "escalated" and row.escalation_level == 1
        assert "550" in (row.last_error or "")
        [mail] = to(sink, "head@school.example")  # same pass: no wait for a deadline
        assert "Not acknowledged" in str(mail.message["Subject"])
        assert to(sink, "dsl@nowhere.example") == []
        assert to(sink, COUNCIL.email) == []  # the authority is next only if nobody answers


async def test_a_school_alert_escalates_at_0830_on_the_next_school_day_then_to_the_authority(
    notifier_url: str, smtp_server: tuple[str, SinkHandler]
) -> None:
    smtp_url, sink = smtp_server
    # Christmas Eve 2026, a Thursday: Christmas Day and Boxing Day (observed Monday 28)
    # are bank holidays in England, so the next school day is Tuesday 29 December.
    start = datetime(2026, 12, 24, 16, 0, tzinfo=UTC)
    async with notifier(notifier_url, smtp_url, start) as n:
        ep = episode(start)
        school = alert_request(
            ep, "100001", OrgKind.SCHOOL, "dsl@school.example", "head@school.example"
        )
        answered = alert_request(
            ep, "100002", OrgKind.SCHOOL, "dsl@other.example", "head@other.example"
        )
        for m in (school, answered):
            await n.request(m)
        await n.at(start)
        row = await n.alert(school.alert_id)
        deadline = datetime(2026, 12, 29, 8, 30, tzinfo=UTC)  # GMT in winter
        assert row.state == "sent" and row.ack_due_at == deadline
        await n.acknowledge(answered.alert_id, "dsl")

        await n.at(deadline - timedelta(minutes=1))
        assert to(sink, "head@school.example") == []
        await n.at(deadline + timedelta(minutes=1))
        [first] = to(sink, "head@school.example")
        assert "Org 100001" in str(first.message["Subject"])
        assert (await n.alert(school.alert_id)).escalation_level == 1
        assert to(sink, "head@other.example") == []  # acknowledged in time: no escalation

        # The escalation contact has 4 hours before the child's authority is told.
        await n.at(deadline + timedelta(hours=3, minutes=59))
        assert to(sink, COUNCIL.email) == []
        await n.at(deadline + timedelta(hours=4, minutes=1))
        [second] = to(sink, COUNCIL.email)
        assert "Escalation" in str(second.message["Subject"])
        assert (await n.alert(school.alert_id)).escalation_level == 2

        # Acknowledging the last escalation acknowledges the alert; the chain is over.
        last = derived_id(school.alert_id, "escalation", "2")
        await n.acknowledge(last, "duty")
        row = await n.alert(school.alert_id)
        assert row.state == "acknowledged" and row.ack_due_at is None
        await n.at(n.clock() + timedelta(days=3))
        assert len(sink.received) == 4  # two alerts, two escalations
        states = [
            (s["alert_id"], s["state"], s["attempt"]) for s in await n.statuses("alert-status")
        ]
        assert (school.alert_id, "escalated", 1) in states
        assert (school.alert_id, "escalated", 2) in states
        assert (school.alert_id, "acknowledged", 1) in states


async def test_an_acknowledgement_before_an_escalation_goes_out_cancels_it(
    notifier_url: str, smtp_server: tuple[str, SinkHandler]
) -> None:
    smtp_url, sink = smtp_server
    start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    async with notifier(notifier_url, smtp_url, start) as n:
        m = await n.request_gp_alert(start)
        # The deadline passes; the escalation is raised, and the GP acknowledges before
        # the scheduler's next pass sends it.
        n.clock.set(start + timedelta(hours=4, minutes=1))
        await n.scheduler.follow_ups.run_once()
        escalation_id = derived_id(m.alert_id, "escalation", "1")
        assert (await n.alert(escalation_id)).state == "queued"
        await n.acknowledge(m.alert_id)
        await n.at(n.clock() + timedelta(minutes=1))
        assert (await n.alert(escalation_id)).state == "cancelled"
        assert to(sink, "pm@surgery.example") == []


async def test_rhi_task_reminds_at_48_hours_escalates_at_72_and_an_outcome_closes_it(
    notifier_url: str, smtp_server: tuple[str, SinkHandler]
) -> None:
    smtp_url, sink = smtp_server
    returned = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    async with notifier(notifier_url, smtp_url, returned) as n:
        tasks = []
        for n_task in range(2):
            ep = episode(returned, EventType.RETURNED)
            task_id = derived_id(ep.event_message_id, COUNCIL.code, "rhi", str(n_task))
            tasks.append(
                RhiTaskRequestedV1(
                    message_id=task_id,
                    task_id=task_id,
                    authority=COUNCIL,
                    child=CHILD,
                    episode=ep,
                    returned_at=returned,
                    due_at=returned + timedelta(hours=72),
                    requested_at=returned,
                )
            )
        slow, done = tasks
        for task in tasks:
            await n.handle(handlers.on_rhi_task_requested, task, policy=n.scheduler.policy)

        # One task gets its outcome on day one: it is never reminded.
        await n.at(returned + timedelta(hours=30))
        await n.handle(
            handlers.on_rhi_task_outcome,
            RhiTaskOutcomeV1(
                message_id="outcome-done",
                task_id=done.task_id,
                outcome=RhiOutcome.COMPLETED,
                recorded_by="rhi worker",
                recorded_at=n.clock(),
            ),
        )

        # A new episode for the same child before the interview is noted on the task.
        again = episode(returned + timedelta(hours=40))
        await n.at(returned + timedelta(hours=40))
        again_alert = alert_request(again, COUNCIL.code, OrgKind.LOCAL_AUTHORITY, COUNCIL.email)
        await n.request(again_alert.model_copy(update={"recipient": COUNCIL}))
        await n.at(n.clock())
        await n.acknowledge(again_alert.alert_id)
        row = await n.task(slow.task_id)
        assert row.state == "open" and f"10/{again.episode_ref}" in row.notes
        assert to(sink, COUNCIL.email)  # the new episode's own alert
        sink.received.clear()

        await n.at(returned + timedelta(hours=47, minutes=59))
        assert sink.received == []
        await n.at(returned + timedelta(hours=48, minutes=1))
        [reminder] = to(sink, COUNCIL.email)
        assert "Return home interview due" in str(reminder.message["Subject"])
        assert (await n.task(slow.task_id)).state == "reminded"

        await n.at(returned + timedelta(hours=71, minutes=59))
        assert len(sink.received) == 1
        await n.at(returned + timedelta(hours=72, minutes=1))
        [overdue] = to(sink, COUNCIL.escalation_email or "")
        assert "overdue" in str(overdue.message["Subject"])
        assert (await n.task(slow.task_id)).state == "escalated"

        await n.handle(
            handlers.on_rhi_task_outcome,
            RhiTaskOutcomeV1(
                message_id="outcome-slow",
                task_id=slow.task_id,
                outcome=RhiOutcome.NOT_POSSIBLE,
                reason="family moved out of area",
                recorded_by="rhi worker",
                recorded_at=n.clock(),
            ),
        )
        row = await n.task(slow.task_id)
        assert row.state == "not-possible" and row.outcome_reason == "family moved out of area"
        await n.at(returned + timedelta(days=10))
        assert len(sink.received) == 2  # nothing more for either task
        assert (await n.task(done.task_id)).reminded_at is None

        statuses = [
            (s["task_id"], s["state"], bool(s.get("note")))
            for s in await n.statuses("rhi-task-status")
        ]
        assert [s for t, s, _ in statuses if t == slow.task_id] == [
            "open",
            "open",  # the new episode's note
            "reminded",
            "escalated",
            "not-possible",
        ]
        assert [s for t, s, _ in statuses if t == done.task_id] == ["open", "completed"]


# --- issue 17: urgency, school-day hours and the out-of-hours team ---------------------


async def test_an_urgent_school_alert_escalates_after_two_school_day_hours(
    notifier_url: str, smtp_server: tuple[str, SinkHandler]
) -> None:
    smtp_url, sink = smtp_server
    start = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)  # Tuesday, 10:00 GMT
    async with notifier(notifier_url, smtp_url, start) as n:
        ep = episode(start)
        urgent = alert_request(
            ep, "100001", OrgKind.SCHOOL, "dsl@school.example", "head@school.example"
        ).model_copy(update={"urgent": True})
        ordinary = alert_request(
            ep, "100002", OrgKind.SCHOOL, "dsl@other.example", "head@other.example"
        )
        for m in (urgent, ordinary):
            await n.request(m)
        await n.at(start)
        deadline = start + timedelta(hours=2)
        assert (await n.alert(urgent.alert_id)).ack_due_at == deadline
        # The ordinary alert keeps the next school day's start.
        next_morning = datetime(2026, 12, 9, 8, 30, tzinfo=UTC)
        assert (await n.alert(ordinary.alert_id)).ack_due_at == next_morning

        [mail] = to(sink, "dsl@school.example")
        assert str(mail.message["Subject"]).startswith("URGENT: Missing child: police ref")
        text = plain_text(mail)
        assert "please check today's attendance register" in text
        assert (
            "If we have not heard from you by 12:00 on Tuesday 8 December, we will contact "
            "your head teacher." in text
        )
        [other] = to(sink, "dsl@other.example")
        assert not str(other.message["Subject"]).startswith("URGENT")
        assert "by 08:30 on Wednesday 9 December" in plain_text(other)

        await n.at(deadline - timedelta(minutes=1))
        assert to(sink, "head@school.example") == []
        await n.at(deadline + timedelta(minutes=1))
        [escalated] = to(sink, "head@school.example")
        assert "Not acknowledged" in str(escalated.message["Subject"])
        assert (await n.alert(urgent.alert_id)).escalation_level == 1
        assert to(sink, "head@other.example") == []  # not due until tomorrow morning


COUNCIL_WITH_TEAM = COUNCIL.model_copy(update={"out_of_hours_email": "edt@council.example"})


def urgent_council_alert(at: datetime) -> AlertRequestedV1:
    m = alert_request(episode(at), COUNCIL.code, OrgKind.LOCAL_AUTHORITY, COUNCIL.email)
    return m.model_copy(update={"recipient": COUNCIL_WITH_TEAM, "urgent": True})


async def test_the_out_of_hours_team_hears_at_once_of_an_urgent_alert_on_saturday_night(
    notifier_url: str, smtp_server: tuple[str, SinkHandler]
) -> None:
    smtp_url, sink = smtp_server
    saturday = datetime(2026, 12, 5, 22, 0, tzinfo=UTC)
    async with notifier(notifier_url, smtp_url, saturday) as n:
        m = urgent_council_alert(saturday)
        await n.request(m)
        await n.request(m)  # redelivered: still one notice
        await n.at(saturday)  # the same pass sends both: nothing waits for Monday
        [alert] = to(sink, COUNCIL.email)
        [notice] = to(sink, "edt@council.example")
        subject = str(notice.message["Subject"])
        assert subject.startswith("URGENT: Out of hours: police ref 10/")
        text = plain_text(notice)
        assert "You are the out-of-hours team of Northumberland Council" in text
        assert "was reported missing to the police on Saturday 5 December 2026 at 22:00" in text
        notice_id = derived_id(m.alert_id, "out-of-hours")
        assert notice.message["Message-ID"] == f"<{notice_id}@missing-episode-relay>"
        row = await n.alert(notice_id)
        assert (row.kind, row.state, row.parent_alert_id) == ("out-of-hours", "sent", m.alert_id)
        assert row.ack_due_at is None and row.urgent

        # The authority's own alert counts working time: Monday 09:00 + 4 hours.
        monday = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)
        assert (await n.alert(m.alert_id)).ack_due_at == monday
        assert "by 13:00 on Monday 7 December, we will contact your team manager" in (
            plain_text(alert)
        )
        states = [
            (s["alert_id"], s["state"])
            for s in await n.statuses("alert-status")
            if s["alert_id"] == notice_id
        ]
        assert states == [(notice_id, "queued"), (notice_id, "sent")]
        await n.at(monday - timedelta(minutes=1))
        assert len(sink.received) == 2  # nothing more before the deadline


async def test_in_office_hours_the_authority_is_told_and_not_its_out_of_hours_team(
    notifier_url: str, smtp_server: tuple[str, SinkHandler]
) -> None:
    smtp_url, sink = smtp_server
    tuesday = datetime(2026, 12, 8, 11, 0, tzinfo=UTC)
    async with notifier(notifier_url, smtp_url, tuesday) as n:
        m = urgent_council_alert(tuesday)
        await n.request(m)
        # Not urgent, on Saturday night: the team is not told either.
        saturday = datetime(2026, 12, 5, 22, 0, tzinfo=UTC)
        n.clock.set(saturday)
        calm = alert_request(
            episode(saturday), COUNCIL.code, OrgKind.LOCAL_AUTHORITY, COUNCIL.email
        ).model_copy(update={"recipient": COUNCIL_WITH_TEAM})
        await n.request(calm)
        await n.at(tuesday)
        assert len(to(sink, COUNCIL.email)) == 2
        assert to(sink, "edt@council.example") == []
        assert await n.alert(derived_id(m.alert_id, "out-of-hours")) is None
        # 4 hours of working time: 15:00 the same day.
        assert (await n.alert(m.alert_id)).ack_due_at == tuesday + timedelta(hours=4)

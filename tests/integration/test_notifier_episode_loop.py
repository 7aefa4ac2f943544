"""The episode drives its alerts and recipients answer (issue 17), on the real database
and SMTP server under a moved clock: ``found`` before the school's deadline means no
escalation at it; ``withdrawn`` after three deliveries gives three notices and cancels
what was pending, once however often it comes; each answer reaches the right place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from relay import subject_access
from relay.smtp_sink import SinkHandler
from schemas.base import derived_id
from schemas.episode import EventType
from schemas.messages import (
    AlertAnswerV1,
    AlertRequestedV1,
    Answer,
    EpisodeRefV1,
    OrgKind,
    PoliceContactV1,
    RecipientV1,
    RhiTaskRequestedV1,
)
from services.notifier import answers, handlers
from services.notifier.tables import audit_chains, disclosures
from services.runtime import audit_chain
from tests.integration.test_notifier_deadlines import (
    COUNCIL,
    Notifier,
    alert_request,
    episode,
    notifier,
    notifier_url,
    plain_text,
    to,
)
from tests.integration.test_notifier_delivery import CHILD

__all__ = ["notifier_url"]  # the fixture, shared with the deadline tests

# Monday 7 December 2026, 17:00 GMT: the school's deadline is 08:30 on Tuesday.
CHILD_ID = "5b0c8a43-6f0e-4d4e-9a51-0e2f3c1d7a10"
MONDAY_EVENING = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
TUESDAY_0830 = datetime(2026, 12, 8, 8, 30, tzinfo=UTC)
POLICE = PoliceContactV1(name="PC Jane Hart", phone="101", email="jane.hart@police.example")
FORCE = RecipientV1(
    code="10",
    kind=OrgKind.POLICE_FORCE,
    name="Northumbria Police missing persons unit",
    email="mpu@northumbria.police.example",
)


def later(ep: EpisodeRefV1, event_type: EventType, at: datetime, n: int = 1) -> EpisodeRefV1:
    """Another event of the same episode (the ``n``th of its type)."""
    event_id = f"{ep.event_id}-{event_type.value}-{n}"
    return ep.model_copy(
        update={
            "event_id": event_id,
            "event_message_id": derived_id("episode-event", ep.force_code, event_id),
            "event_type": event_type,
            "occurred_at": at,
        }
    )


def school_alert(ep: EpisodeRefV1, **changes: object) -> AlertRequestedV1:
    m = alert_request(ep, "100001", OrgKind.SCHOOL, "dsl@school.example", "head@school.example")
    return m.model_copy(update=changes)


def council_alert(ep: EpisodeRefV1) -> AlertRequestedV1:
    return alert_request(ep, COUNCIL.code, OrgKind.LOCAL_AUTHORITY, COUNCIL.email)


async def test_found_before_the_schools_deadline_stands_the_alert_down(
    notifier_url: str, smtp_server: tuple[str, SinkHandler]
) -> None:
    smtp_url, sink = smtp_server
    async with notifier(notifier_url, smtp_url, MONDAY_EVENING) as n:
        reported = episode(MONDAY_EVENING)
        first = school_alert(reported)
        await n.request(first)
        await n.at(MONDAY_EVENING)
        assert (await n.alert(first.alert_id)).ack_due_at == TUESDAY_0830

        # Found at 23:00 on Monday: the school hears the child is found, and nobody chases
        # the head teacher or the council at 08:30 about a child who is home.
        found_at = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
        found = school_alert(later(reported, EventType.FOUND, found_at))
        await n.request(found)
        await n.at(found_at)
        row = await n.alert(first.alert_id)
        assert row.state == "stood-down" and row.ack_due_at is None
        await n.at(TUESDAY_0830 + timedelta(hours=6))
        assert to(sink, "head@school.example") == []
        assert to(sink, COUNCIL.email) == []
        assert [m.message["X-Relay-Alert-Id"] for m in to(sink, "dsl@school.example")] == [
            first.alert_id,
            found.alert_id,
        ]
        statuses = [s for s in await n.statuses("alert-status") if s["alert_id"] == first.alert_id]
        assert statuses[-1]["state"] == "stood-down"
        assert "the child was found" in statuses[-1]["detail"]

        # Acknowledging a stood-down alert is still recorded.
        await n.acknowledge(first.alert_id, "dsl")
        assert (await n.alert(first.alert_id)).acknowledged_at is not None


async def test_a_reported_decided_after_the_found_never_says_missing(
    notifier_url: str, smtp_server: tuple[str, SinkHandler]
) -> None:
    # The school's reported waited for a person, who decided after the child was found
    # (the found reached the council, and the school on a record matched on its own).
    smtp_url, sink = smtp_server
    async with notifier(notifier_url, smtp_url, MONDAY_EVENING) as n:
        reported = episode(MONDAY_EVENING)
        found_at = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
        found = school_alert(later(reported, EventType.FOUND, found_at))
        await n.request(found)
        await n.at(found_at)
        decided = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
        late = school_alert(reported, requested_at=decided)
        await n.request(late)
        assert (await n.alert(late.alert_id)).state == "stood-down"
        await n.at(TUESDAY_0830 + timedelta(hours=6))
        assert [m.message["X-Relay-Alert-Id"] for m in to(sink, "dsl@school.example")] == [
            found.alert_id
        ]
        statuses = [s for s in await n.statuses("alert-status") if s["alert_id"] == late.alert_id]
        assert [s["state"] for s in statuses] == ["queued", "stood-down"]
        assert "found before it went" in statuses[-1]["detail"]


async def test_a_stood_down_alerts_queued_escalation_is_cancelled(
    notifier_url: str, smtp_server: tuple[str, SinkHandler]
) -> None:
    smtp_url, sink = smtp_server
    sink.refuse["dsl@school.example"] = "550 5.1.1 no such mailbox"
    sink.refuse["head@school.example"] = "451 4.3.0 try again later"
    async with notifier(notifier_url, smtp_url, MONDAY_EVENING) as n:
        reported = episode(MONDAY_EVENING)
        first = school_alert(reported)
        await n.request(first)
        await n.at(MONDAY_EVENING)  # 550: escalated at once; the head's server defers it
        escalation = derived_id(first.alert_id, "escalation", "1")
        assert (await n.alert(first.alert_id)).state == "escalated"
        assert (await n.alert(escalation)).state == "temporary-failure"

        returned_at = MONDAY_EVENING + timedelta(minutes=10)
        await n.request(school_alert(later(reported, EventType.RETURNED, returned_at)))
        assert (await n.alert(first.alert_id)).state == "stood-down"
        assert (await n.alert(escalation)).state == "cancelled"
        del sink.refuse["head@school.example"]
        await n.at(returned_at + timedelta(days=2))
        assert to(sink, "head@school.example") == []
        assert to(sink, COUNCIL.email) == []


async def test_withdrawn_after_three_deliveries_sends_three_notices_once(
    notifier_url: str, smtp_server: tuple[str, SinkHandler]
) -> None:
    smtp_url, sink = smtp_server
    async with notifier(notifier_url, smtp_url, MONDAY_EVENING) as n:
        reported = episode(MONDAY_EVENING)
        # The router names the child on every alert (issue 20): the export finds its
        # episodes by that id.
        told = [
            m.model_copy(update={"child_id": CHILD_ID})
            for m in (
                school_alert(reported),
                alert_request(reported, "A81001", OrgKind.GP_PRACTICE, "gp@surgery.example"),
                council_alert(reported),
            )
        ]
        for m in told:
            await n.request(m)
        await n.at(MONDAY_EVENING)
        assert [(await n.alert(m.alert_id)).state for m in told] == ["sent"] * 3
        # Returned, with its RHI task; and a still-missing alert for a YOT, queued and not
        # yet sent: both pending when the police withdraw.
        task = RhiTaskRequestedV1(
            message_id="task-1",
            task_id="task-1",
            authority=COUNCIL,
            child=CHILD,
            episode=later(reported, EventType.RETURNED, MONDAY_EVENING + timedelta(hours=1)),
            returned_at=MONDAY_EVENING + timedelta(hours=1),
            due_at=MONDAY_EVENING + timedelta(hours=73),
            requested_at=MONDAY_EVENING,
        )
        await n.handle(handlers.on_rhi_task_requested, task, policy=n.scheduler.policy)
        pending = alert_request(
            later(reported, EventType.STILL_MISSING, MONDAY_EVENING),
            "YOT1",
            OrgKind.YOT,
            "yot@council.example",
        )
        await n.request(pending)

        withdrawn_at = MONDAY_EVENING + timedelta(hours=3)
        withdrawal = council_alert(later(reported, EventType.WITHDRAWN, withdrawn_at))
        await n.request(withdrawal)
        # The police withdraw it twice (a second event id): still one notice each.
        again = council_alert(
            later(reported, EventType.WITHDRAWN, withdrawn_at + timedelta(minutes=5), n=2)
        )
        await n.request(again)
        await n.at(withdrawn_at + timedelta(days=4))

        for m in told:
            mails = to(sink, m.recipient.email)
            notices = [x for x in mails if "Please disregard" in str(x.message["Subject"])]
            assert len(notices) == 1, m.recipient.code
            text = plain_text(notices[0])
            assert m.alert_id in text and reported.episode_ref in text
            assert "delete it from your records" in text
        # The YOT was never sent anything: its alert was cancelled, and no notice.
        assert to(sink, "yot@council.example") == []
        assert (await n.alert(pending.alert_id)).state == "withdrawn"
        assert (await n.task("task-1")).state == "withdrawn"
        # No escalation, reminder or RHI escalation followed anything of the episode.
        assert to(sink, "head@school.example") == []
        assert to(sink, "duty@council.example") == []
        assert len(to(sink, COUNCIL.email)) == 2  # the alert and the notice
        assert (await n.alert(again.alert_id)).state == "cancelled"

        async with n.db.transaction() as session:
            rows = (
                await session.execute(
                    select(disclosures).where(disclosures.c.episode_ref == reported.episode_ref)
                )
            ).all()
            assert (await audit_chain.verify(session, audit_chains, disclosures)).intact
            # What `relay audit export --name` finds for the child shows the withdrawals.
            subject = await subject_access.widen(session, subject_access.parse_child(CHILD_ID))
            exported = await subject_access.disclosure_rows(session, subject)
        withdrawals = {r.alert_id for r in rows if r.kind == "withdrawal"}
        assert withdrawals == {m.alert_id for m in told}
        assert {r.alert_id for r in exported if r.kind == "withdrawal"} == withdrawals  # type: ignore[attr-defined]


async def test_withdrawn_for_an_episode_never_seen_sends_nothing(
    notifier_url: str, smtp_server: tuple[str, SinkHandler]
) -> None:
    smtp_url, sink = smtp_server
    async with notifier(notifier_url, smtp_url, MONDAY_EVENING) as n:
        withdrawal = council_alert(episode(MONDAY_EVENING, EventType.WITHDRAWN))
        await n.request(withdrawal)
        await n.at(MONDAY_EVENING + timedelta(hours=1))
        assert sink.received == []
        assert (await n.alert(withdrawal.alert_id)).state == "cancelled"


def answer(alert: AlertRequestedV1, kind: Answer, at: datetime, **more: object) -> AlertAnswerV1:
    return AlertAnswerV1(
        message_id=derived_id("alert-answer", alert.alert_id, kind.value, str(more)),
        alert_id=alert.alert_id,
        answer=kind,
        answered_at=at,
        force_code=alert.episode.force_code,
        episode_ref=alert.episode.episode_ref,
        event_message_id=alert.episode.event_message_id,
        recipient_code=alert.recipient.code,
        recipient_kind=alert.recipient.kind,
        recipient_name=alert.recipient.name,
        **more,  # type: ignore[arg-type]
    )


async def answered(n: Notifier, message: AlertAnswerV1) -> None:
    await n.handle(answers.on_alert_answer, message)


async def test_each_answer_reaches_the_right_place(
    notifier_url: str, smtp_server: tuple[str, SinkHandler]
) -> None:
    smtp_url, sink = smtp_server
    async with notifier(notifier_url, smtp_url, MONDAY_EVENING) as n:
        reported = episode(MONDAY_EVENING)
        with_contact = school_alert(reported, police_contact=POLICE, police_force=FORCE)
        # Another episode whose event named no contact email: the force's own address.
        other = episode(MONDAY_EVENING)
        without = school_alert(other, police_force=FORCE)
        nowhere = alert_request(
            episode(MONDAY_EVENING), "A81001", OrgKind.GP_PRACTICE, "gp@surgery.example"
        )
        for m in (with_contact, without, nowhere):
            await n.request(m)
        await n.at(MONDAY_EVENING)

        morning = datetime(2026, 12, 8, 8, 20, tzinfo=UTC)  # before the 08:30 deadline
        n.clock.set(morning)
        await answered(n, answer(with_contact, Answer.HERE_NOW, morning))
        # The same answer again (a replay) is one email.
        await answered(n, answer(with_contact, Answer.HERE_NOW, morning))
        words = "Seen at the bus station with two older boys.\nAsk Mr Lee in reception."
        await answered(n, answer(without, Answer.INFORMATION, morning, information=words))
        await answered(n, answer(nowhere, Answer.INFORMATION, morning, information="Seen."))
        await answered(n, answer(with_contact, Answer.NOT_KNOWN, morning))
        await n.at(morning + timedelta(seconds=30))

        [here] = to(sink, POLICE.email)
        assert str(here.message["Subject"]) == (
            f"Org 100001 answered your missing-child alert: police ref 10/{reported.episode_ref}"
        )
        text = plain_text(here)
        assert "The child is with us now." in text and "08:20" in text
        [info] = to(sink, FORCE.email)
        assert "Seen at the bus station with two older boys." in plain_text(info)
        assert other.episode_ref in str(info.message["Subject"])
        # Never to any other recipient; "not known" is the router's, not the police's.
        assert len(to(sink, "dsl@school.example")) == 2  # the two alerts themselves
        assert to(sink, "head@school.example") == [] and to(sink, COUNCIL.email) == []
        assert len(sink.received) == 3 + 2
        row = await n.alert(with_contact.alert_id)
        assert row.answer == "not-known" and row.answered_at == morning

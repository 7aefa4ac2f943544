"""The notifier's other consumer handlers driven through the in-memory store and outbox
(tests/unit/notifier_fakes.py): an RHI task requested, an acknowledgement, an RHI
task's outcome (services/notifier/handlers.py) and a recipient's answer
(services/notifier/answers.py). What each stores and publishes; the SQL store:
tests/integration/test_notifier_*.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from schemas.base import derived_id
from schemas.catalogue import ALERT_STATUS, RHI_TASK_STATUS
from schemas.episode import EventType
from schemas.messages import (
    AcknowledgementV1,
    AlertAnswerV1,
    AlertKind,
    AlertState,
    AlertStatusV1,
    Answer,
    RhiOutcome,
    RhiTaskOutcomeV1,
    RhiTaskRequestedV1,
    RhiTaskState,
    RhiTaskStatusV1,
)
from services.notifier.answers import answer_id, record_answer
from services.notifier.handlers import acknowledge_alert, close_task, open_task
from services.notifier.model import Alert
from services.runtime.handling import UnprocessableError
from tests.unit.fake_outbox import FakeOutbox
from tests.unit.notifier_examples import (
    CHILD,
    CHILD_ID,
    COUNCIL,
    MONDAY_EVENING,
    SCHOOL,
    episode,
    request,
    sent,
)
from tests.unit.notifier_examples import open_task as open_task_row
from tests.unit.notifier_fakes import MemoryAlertStore

LATER = MONDAY_EVENING + timedelta(hours=1)


def alert_statuses(out: FakeOutbox) -> list[tuple[str, AlertState, str | None]]:
    return [(s.alert_id, s.state, s.detail) for s in out.on(ALERT_STATUS, AlertStatusV1)]


def task_requested(returned_at: datetime, due_at: datetime) -> RhiTaskRequestedV1:
    ep = episode(EventType.RETURNED, returned_at)
    task_id = derived_id(ep.event_message_id, COUNCIL.code, "rhi")
    return RhiTaskRequestedV1(
        message_id=task_id,
        task_id=task_id,
        authority=COUNCIL,
        child=CHILD,
        episode=ep,
        returned_at=returned_at,
        due_at=due_at,
        requested_at=returned_at,
        child_id=CHILD_ID,
    )


def escalation_of(alert: Alert, state: AlertState = AlertState.QUEUED) -> Alert:
    return replace(
        alert,
        alert_id=derived_id(alert.alert_id, "escalation", "1"),
        kind=AlertKind.ESCALATION.value,
        parent_alert_id=alert.alert_id,
        state=state.value,
        sent_at=None,
    )


def acknowledgement(alert_id: str, by: str | None = "dsl@school.example") -> AcknowledgementV1:
    return AcknowledgementV1(
        message_id=derived_id("ack", alert_id), alert_id=alert_id, acknowledged_at=LATER, by=by
    )


async def test_a_requested_task_is_stored_open_once_due_72_hours_after_the_return() -> None:
    store, out = MemoryAlertStore(), FakeOutbox()
    # Asked for later than the statutory limit: pulled back to it.
    m = task_requested(MONDAY_EVENING, MONDAY_EVENING + timedelta(days=5))
    assert await open_task(store, m, out, now=lambda: LATER) is True
    task = store.tasks[m.task_id]
    limit = MONDAY_EVENING + timedelta(hours=72)
    assert (task.state, task.due_at, task.authority_email) == ("open", limit, COUNCIL.email)
    assert task.reminder_due_at is not None and task.reminder_due_at < limit
    [status] = out.on(RHI_TASK_STATUS, RhiTaskStatusV1)
    assert (status.task_id, status.state, status.due_at, status.at) == (
        m.task_id,
        RhiTaskState.OPEN,
        limit,
        LATER,
    )
    assert store.child_links == {("10", "MP/1"): CHILD_ID}
    again = FakeOutbox()
    assert await open_task(store, m, again, now=lambda: LATER) is False
    assert again.sent == [] and list(store.tasks) == [m.task_id]


async def test_acknowledging_an_alert_cancels_its_unsent_escalation() -> None:
    alert = sent(request(episode(), SCHOOL))
    escalation = escalation_of(alert)
    store, out = MemoryAlertStore(), FakeOutbox()
    store.keep(alert, escalation)
    await acknowledge_alert(store, acknowledgement(alert.alert_id), out, now=lambda: LATER)
    assert alert_statuses(out) == [
        (alert.alert_id, AlertState.ACKNOWLEDGED, None),
        (escalation.alert_id, AlertState.CANCELLED, "acknowledged"),
    ]
    acknowledged = store.alerts[alert.alert_id]
    assert (acknowledged.state, acknowledged.acknowledged_at, acknowledged.acknowledged_by) == (
        "acknowledged",
        LATER,
        "dsl@school.example",
    )
    assert acknowledged.ack_due_at is None
    # Acknowledged again (a second click): nothing new to say.
    again = FakeOutbox()
    await acknowledge_alert(store, acknowledgement(alert.alert_id), again, now=lambda: LATER)
    assert again.sent == []


async def test_acknowledging_an_escalation_acknowledges_the_alert_it_escalates() -> None:
    alert = sent(request(episode(), SCHOOL))
    escalation = replace(escalation_of(alert, AlertState.SENT), sent_at=MONDAY_EVENING)
    store, out = MemoryAlertStore(), FakeOutbox()
    store.keep(alert, escalation)
    await acknowledge_alert(store, acknowledgement(escalation.alert_id, None), out)
    assert [(a, s) for a, s, _ in alert_statuses(out)] == [
        (escalation.alert_id, AlertState.ACKNOWLEDGED),
        (alert.alert_id, AlertState.ACKNOWLEDGED),
    ]
    assert store.alerts[escalation.alert_id].acknowledged_by is None
    assert store.alerts[alert.alert_id].acknowledged_by == "recipient (escalation)"


async def test_an_acknowledgement_for_an_unknown_alert_is_unprocessable() -> None:
    with pytest.raises(UnprocessableError, match="unknown alert nope"):
        await acknowledge_alert(MemoryAlertStore(), acknowledgement("nope"), FakeOutbox())


def outcome(task_id: str, result: RhiOutcome, by: str = "RHI worker") -> RhiTaskOutcomeV1:
    return RhiTaskOutcomeV1(
        message_id=derived_id("outcome", task_id, result.value, by),
        task_id=task_id,
        outcome=result,
        reason="child in hospital" if result is RhiOutcome.NOT_POSSIBLE else None,
        recorded_by=by,
        recorded_at=LATER,
    )


async def test_an_outcome_closes_the_task_once_and_cancels_its_unsent_reminder() -> None:
    returned = episode(EventType.RETURNED, MONDAY_EVENING)
    task = open_task_row(returned, MONDAY_EVENING)
    reminder = replace(
        sent(request(returned, COUNCIL)),
        alert_id=derived_id(task.task_id, "reminder"),
        kind=AlertKind.RHI_REMINDER.value,
        task_id=task.task_id,
        state=AlertState.QUEUED.value,
        sent_at=None,
    )
    store, out = MemoryAlertStore(), FakeOutbox()
    store.keep(task, reminder)
    first = outcome(task.task_id, RhiOutcome.NOT_POSSIBLE)
    assert await close_task(store, first, out, now=lambda: LATER) is True
    assert alert_statuses(out) == [(reminder.alert_id, AlertState.CANCELLED, "outcome recorded")]
    [status] = out.on(RHI_TASK_STATUS, RhiTaskStatusV1)
    assert (status.state, status.note) == (
        RhiTaskState.NOT_POSSIBLE,
        "outcome not-possible recorded by RHI worker",
    )
    closed = store.tasks[task.task_id]
    assert (closed.state, closed.outcome_reason, closed.outcome_recorded_by) == (
        "not-possible",
        "child in hospital",
        "RHI worker",
    )
    # A second outcome (another worker): the first stands, nothing published.
    again = FakeOutbox()
    second = outcome(task.task_id, RhiOutcome.COMPLETED, by="someone else")
    assert await close_task(store, second, again, now=lambda: LATER) is False
    assert again.sent == [] and store.tasks[task.task_id].state == "not-possible"


async def test_an_outcome_for_an_unknown_task_is_unprocessable() -> None:
    with pytest.raises(UnprocessableError, match="unknown RHI task nope"):
        await close_task(MemoryAlertStore(), outcome("nope", RhiOutcome.COMPLETED), FakeOutbox())


def answer(alert: Alert, given: Answer, information: str | None = None) -> AlertAnswerV1:
    return AlertAnswerV1(
        message_id=derived_id("answer", alert.alert_id, given.value),
        alert_id=alert.alert_id,
        answer=given,
        information=information,
        answered_at=LATER,
        force_code=alert.force_code,
        episode_ref=alert.episode_ref,
        event_message_id=alert.event_message_id,
        recipient_code=alert.recipient_code,
        recipient_kind=alert.recipient_kind,
        recipient_name=alert.recipient_name,
    )


async def test_here_now_is_kept_on_the_alert_and_queued_once_for_the_police() -> None:
    alert = replace(
        sent(request(episode(), SCHOOL)),
        police_contact_name="PC Lowe",
        police_contact_email="lowe@police.example",
    )
    store, out = MemoryAlertStore(), FakeOutbox()
    store.keep(alert)
    m = answer(alert, Answer.HERE_NOW)
    assert await record_answer(store, m, out, now=lambda: LATER) is True
    answered = store.alerts[alert.alert_id]
    assert (answered.answer, answered.answered_at) == ("here-now", LATER)
    police = store.alerts[answer_id(m)]
    assert (police.kind, police.recipient_email, police.recipient_name, police.answer) == (
        "answer",
        "lowe@police.example",
        "PC Lowe",
        "here-now",
    )
    assert police.parent_alert_id == f"answer:{m.message_id}"
    assert alert_statuses(out) == [(answer_id(m), AlertState.QUEUED, None)]
    # The same answer redelivered: stored once, published once.
    again = FakeOutbox()
    assert await record_answer(store, m, again, now=lambda: LATER) is False
    assert again.sent == []


async def test_information_goes_to_the_forces_address_without_a_police_contact() -> None:
    alert = replace(sent(request(episode(), SCHOOL)), police_force_email="mispers@force.example")
    store, out = MemoryAlertStore(), FakeOutbox()
    store.keep(alert)
    m = answer(alert, Answer.INFORMATION, "seen at the bus station")
    assert await record_answer(store, m, out) is True
    police = store.alerts[answer_id(m)]
    assert (police.recipient_email, police.recipient_name, police.answer_information) == (
        "mispers@force.example",
        "Police force 10",
        "seen at the bus station",
    )


@pytest.mark.parametrize(
    ("given", "police_email"),
    [(Answer.NOT_KNOWN, "mispers@force.example"), (Answer.HERE_NOW, None)],
)
async def test_an_answer_the_police_need_not_or_cannot_hear_is_only_kept(
    given: Answer, police_email: str | None
) -> None:
    alert = replace(sent(request(episode(), SCHOOL)), police_force_email=police_email)
    store, out = MemoryAlertStore(), FakeOutbox()
    store.keep(alert)
    assert await record_answer(store, answer(alert, given), out) is False
    assert store.alerts[alert.alert_id].answer == given.value
    assert out.sent == [] and list(store.alerts) == [alert.alert_id]


async def test_an_answer_for_an_unknown_alert_is_unprocessable() -> None:
    alert = sent(request(episode(), SCHOOL))
    with pytest.raises(UnprocessableError, match="unknown alert"):
        await record_answer(MemoryAlertStore(), answer(alert, Answer.HERE_NOW), FakeOutbox())

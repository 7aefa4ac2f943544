"""The notifier's alert-request handler (services/notifier/handlers.py ``queue_alert``)
driven through the in-memory store and outbox (tests/unit/notifier_fakes.py): what it
stores and publishes. The SQL store, the scheduler and SMTP:
tests/integration/test_notifier_*.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from schemas.base import derived_id
from schemas.catalogue import ALERT_STATUS, RHI_TASK_STATUS
from schemas.episode import EventType
from schemas.messages import (
    AlertKind,
    AlertRequestedV1,
    AlertState,
    AlertStatusV1,
    RhiTaskState,
    RhiTaskStatusV1,
)
from services.notifier.handlers import queue_alert
from tests.unit.fake_outbox import FakeOutbox
from tests.unit.notifier_examples import (
    CHILD_ID,
    COUNCIL,
    MONDAY_EVENING,
    SCHOOL,
    episode,
    open_task,
    request,
    sent,
)
from tests.unit.notifier_fakes import MemoryAlertStore


async def handle(store: MemoryAlertStore, m: AlertRequestedV1, at: datetime) -> FakeOutbox:
    out = FakeOutbox()
    await queue_alert(store, m, out, now=lambda: at)
    return out


def statuses(out: FakeOutbox) -> list[tuple[str, AlertState, str | None]]:
    assert all(key == s.alert_id for _, key, s in out.sent if isinstance(s, AlertStatusV1))
    return [(s.alert_id, s.state, s.detail) for s in out.on(ALERT_STATUS, AlertStatusV1)]


async def test_a_requested_alert_is_stored_queued_once_and_its_status_published() -> None:
    store, m = MemoryAlertStore(), request(episode(), SCHOOL)
    out = FakeOutbox()
    assert await queue_alert(store, m, out, now=lambda: MONDAY_EVENING) is True
    alert = store.alerts[m.alert_id]
    assert (alert.state, alert.due_at, alert.recipient_email) == (
        "queued",
        MONDAY_EVENING,
        "dsl@school.example",
    )
    assert alert.ack_due_at is not None and alert.ack_due_at > MONDAY_EVENING
    [status] = out.on(ALERT_STATUS, AlertStatusV1)
    assert (status.alert_id, status.state, status.recipient_code) == (
        m.alert_id,
        AlertState.QUEUED,
        "100001",
    )
    assert store.child_links == {("10", "MP/1"): CHILD_ID}
    # Redelivered, or the same facts under another id: nothing stored or published again.
    again = FakeOutbox()
    assert await queue_alert(store, m, again, now=lambda: MONDAY_EVENING) is False
    other_id = m.model_copy(update={"alert_id": "another", "message_id": "another"})
    assert await queue_alert(store, other_id, again, now=lambda: MONDAY_EVENING) is False
    assert again.sent == [] and list(store.alerts) == [m.alert_id]


async def test_found_stands_down_waiting_alerts_and_cancels_their_escalations() -> None:
    first = request(episode(), SCHOOL)
    escalation = replace(
        sent(first),
        alert_id=derived_id(first.alert_id, "escalation", "1"),
        kind=AlertKind.ESCALATION.value,
        parent_alert_id=first.alert_id,
        state=AlertState.QUEUED.value,
        sent_at=None,
    )
    store = MemoryAlertStore()
    store.keep(sent(first), escalation)
    found_at = MONDAY_EVENING + timedelta(hours=6)
    found = request(episode(EventType.FOUND, found_at), SCHOOL)
    out = await handle(store, found, found_at)
    assert statuses(out) == [
        (found.alert_id, AlertState.QUEUED, None),
        (first.alert_id, AlertState.STOOD_DOWN, "the child was found: no acknowledgement needed"),
        (escalation.alert_id, AlertState.CANCELLED, "stood down"),
    ]
    stood_down = store.alerts[first.alert_id]
    assert (stood_down.state, stood_down.ack_due_at) == ("stood-down", None)
    assert store.alerts[escalation.alert_id].state == "cancelled"


async def test_a_missing_alert_arriving_after_the_found_is_stood_down_and_never_sent() -> None:
    # The school's "reported" was held for a person, who decided after the child was
    # found (the found's alert to the school already in): "missing" must not follow.
    store = MemoryAlertStore()
    found_at = MONDAY_EVENING + timedelta(hours=6)
    found = request(episode(EventType.FOUND, found_at), SCHOOL)
    await handle(store, found, found_at)
    late = request(episode(), SCHOOL)
    out = await handle(store, late, found_at + timedelta(hours=1))
    assert statuses(out) == [
        (late.alert_id, AlertState.QUEUED, None),
        (
            late.alert_id,
            AlertState.STOOD_DOWN,
            "the child was found before it went: no acknowledgement needed",
        ),
    ]
    assert (store.alerts[late.alert_id].state, store.alerts[late.alert_id].ack_due_at) == (
        "stood-down",
        None,
    )
    # A reported of an episode that has not ended goes out as ever.
    fresh = request(episode(episode_ref="MP/2"), SCHOOL)
    await handle(store, fresh, found_at)
    assert store.alerts[fresh.alert_id].state == "queued"


async def test_withdrawn_asks_each_organisation_told_to_disregard_it_once() -> None:
    reported = episode()
    school, council = request(reported, SCHOOL), request(reported, COUNCIL)
    returned = episode(EventType.RETURNED, MONDAY_EVENING + timedelta(hours=2))
    store = MemoryAlertStore()
    store.keep(sent(school), sent(council), open_task(returned, returned.occurred_at))
    at = MONDAY_EVENING + timedelta(hours=3)
    withdrawn = request(episode(EventType.WITHDRAWN, at), COUNCIL)
    out = await handle(store, withdrawn, at)

    notice_id = derived_id(withdrawn.episode.event_message_id, "100001", "withdrawn")
    by_police = "episode withdrawn by the police"
    published = statuses(out)
    assert published[0] == (withdrawn.alert_id, AlertState.QUEUED, None)
    # Both earlier alerts (oldest first: here created together, so by id).
    assert sorted(published[1:3]) == sorted(
        [
            (school.alert_id, AlertState.WITHDRAWN, by_police),
            (council.alert_id, AlertState.WITHDRAWN, by_police),
        ]
    )
    assert published[3:] == [(notice_id, AlertState.QUEUED, None)]
    notice = store.alerts[notice_id]
    assert (notice.kind, notice.recipient_email, notice.about_alert_ids) == (
        "withdrawn",
        "dsl@school.example",
        school.alert_id,
    )
    # The request itself is the council's notice, about what the council was sent.
    assert store.alerts[withdrawn.alert_id].about_alert_ids == council.alert_id
    [task] = out.on(RHI_TASK_STATUS, RhiTaskStatusV1)
    assert (task.state, task.note) == (RhiTaskState.WITHDRAWN, by_police)
    assert store.withdrawals == [(("10", "MP/1"), withdrawn.episode.event_id)]

    # Withdrawn again (another event): everyone was asked already, nobody twice.
    later = request(episode(EventType.WITHDRAWN, at, n=2), COUNCIL)
    again = await handle(store, later, at)
    assert statuses(again) == [
        (later.alert_id, AlertState.QUEUED, None),
        (
            later.alert_id,
            AlertState.CANCELLED,
            "nothing to disregard: no other notice needed for this organisation",
        ),
    ]


async def test_a_withdrawal_nobody_was_told_of_cancels_the_request() -> None:
    store = MemoryAlertStore()
    withdrawn = request(episode(EventType.WITHDRAWN), COUNCIL)
    out = await handle(store, withdrawn, MONDAY_EVENING)
    assert [(s[0], s[1]) for s in statuses(out)] == [
        (withdrawn.alert_id, AlertState.QUEUED),
        (withdrawn.alert_id, AlertState.CANCELLED),
    ]
    assert store.alerts[withdrawn.alert_id].state == "cancelled"


async def test_a_new_episode_before_the_interview_is_noted_on_the_open_task() -> None:
    returned = episode(EventType.RETURNED, MONDAY_EVENING - timedelta(days=3))
    task = open_task(returned, returned.occurred_at)
    store = MemoryAlertStore(child_links={("10", "MP/1"): CHILD_ID})
    store.keep(task)
    again = request(episode(episode_ref="MP/2"), COUNCIL)
    out = await handle(store, again, MONDAY_EVENING)
    note = "new episode 10/MP/2 reported 2026-12-07 17:00 UTC before the interview"
    [status] = out.on(RHI_TASK_STATUS, RhiTaskStatusV1)
    assert (status.task_id, status.state, status.note) == (task.task_id, RhiTaskState.OPEN, note)
    assert store.tasks[task.task_id].notes == note
    # The school's alert of the same episode notes nothing: only the authority's does.
    school = await handle(store, request(episode(episode_ref="MP/2"), SCHOOL), MONDAY_EVENING)
    assert school.on(RHI_TASK_STATUS, RhiTaskStatusV1) == []


async def test_an_urgent_alert_out_of_hours_tells_the_authoritys_team_at_once() -> None:
    saturday = datetime(2026, 12, 5, 22, 0, tzinfo=UTC)
    council = COUNCIL.model_copy(update={"out_of_hours_email": "edt@council.example"})
    m = request(episode(at=saturday), council, urgent=True)
    store = MemoryAlertStore()
    out = await handle(store, m, saturday)
    notice_id = derived_id(m.alert_id, AlertKind.OUT_OF_HOURS.value)
    assert statuses(out) == [
        (m.alert_id, AlertState.QUEUED, None),
        (notice_id, AlertState.QUEUED, None),
    ]
    notice = store.alerts[notice_id]
    assert (notice.recipient_email, notice.parent_alert_id, notice.urgent) == (
        "edt@council.example",
        m.alert_id,
        True,
    )
    # The same alert on a Monday afternoon waits for the office.
    monday = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    weekday = request(episode(at=monday, episode_ref="MP/9"), council, urgent=True)
    assert len(statuses(await handle(store, weekday, monday))) == 1

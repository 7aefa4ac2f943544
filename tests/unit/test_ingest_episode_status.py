"""Who knows about an episode: how ingest folds alert statuses and answers together, and
the answer it gives the police (services/ingest/episode_status.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.episode import EventType
from schemas.episode_status import AcceptedEventV1
from schemas.messages import (
    AlertAnswerV1,
    AlertKind,
    AlertState,
    AlertStatusV1,
    Answer,
    OrgKind,
)
from services.ingest.episode_status import (
    AlertRecord,
    episode_status,
    record_answer,
    record_status,
    record_statuses,
)

T0 = datetime(2026, 3, 1, 21, 45, tzinfo=UTC)


def status(
    state: AlertState,
    minutes: int,
    alert_id: str = "A1",
    code: str = "100001",
    kind: AlertKind = AlertKind.REPORTED,
    name: str | None = "Hillside Primary",
) -> AlertStatusV1:
    return AlertStatusV1(
        message_id=f"{alert_id}:{state.value}:{minutes}",
        alert_id=alert_id,
        state=state,
        kind=kind,
        recipient_code=code,
        recipient_kind=OrgKind.SCHOOL,
        force_code="10",
        episode_ref="R1",
        event_message_id="E1",
        at=T0 + timedelta(minutes=minutes),
        recipient_name=name,
        event_type=EventType.REPORTED if name else None,
    )


def answer(value: Answer, minutes: int, alert_id: str = "A1") -> AlertAnswerV1:
    return AlertAnswerV1(
        message_id=f"answer:{alert_id}:{minutes}",
        alert_id=alert_id,
        answer=value,
        information="Seen at the bus station" if value is Answer.INFORMATION else None,
        answered_at=T0 + timedelta(minutes=minutes),
        force_code="10",
        episode_ref="R1",
        event_message_id="E1",
        recipient_code="100001",
        recipient_kind=OrgKind.SCHOOL,
        recipient_name="Hillside Primary School",
    )


def fold(*statuses: AlertStatusV1) -> AlertRecord:
    record = None
    for message in statuses:
        record = record_status(record, message)
    assert record is not None
    return record


def test_sent_and_acknowledged_times_are_the_first_of_each() -> None:
    record = fold(
        status(AlertState.QUEUED, 0),
        status(AlertState.SENT, 2),
        status(AlertState.SENT, 5),  # a second send (a copy after a retry)
        status(AlertState.ACKNOWLEDGED, 9),
    )
    assert (record.state, record.sent_at, record.acknowledged_at) == (
        AlertState.ACKNOWLEDGED,
        T0 + timedelta(minutes=2),
        T0 + timedelta(minutes=9),
    )
    assert record.first_at == T0


@pytest.mark.parametrize(
    "replayed",
    [
        status(AlertState.QUEUED, 0),
        status(AlertState.SENT, 2),
        status(AlertState.SENT, 20),  # newer, but a delivery status undoes no settled state
        status(AlertState.ESCALATED, 20),
    ],
    ids=["older-queued", "older-sent", "later-sent", "later-escalated"],
)
def test_a_replay_never_takes_a_settled_alert_back(replayed: AlertStatusV1) -> None:
    settled = fold(status(AlertState.SENT, 2), status(AlertState.STOOD_DOWN, 10))
    assert record_status(settled, replayed).state is AlertState.STOOD_DOWN


def test_one_settled_state_may_follow_another() -> None:
    # Acknowledging a stood-down alert is still recorded.
    record = fold(
        status(AlertState.SENT, 2),
        status(AlertState.STOOD_DOWN, 10),
        status(AlertState.ACKNOWLEDGED, 11),
    )
    assert (record.state, record.acknowledged_at) == (
        AlertState.ACKNOWLEDGED,
        T0 + timedelta(minutes=11),
    )
    older = record_status(record, status(AlertState.WITHDRAWN, 5))
    assert older.state is AlertState.ACKNOWLEDGED


def test_statuses_of_one_instant_keep_their_order_but_queued_comes_first() -> None:
    record = fold(status(AlertState.QUEUED, 1), status(AlertState.SENDING, 1))
    assert record.state is AlertState.SENDING
    assert record_status(record, status(AlertState.SENT, 1)).state is AlertState.SENT
    assert record_status(record, status(AlertState.QUEUED, 1)).state is AlertState.SENDING


def test_a_status_without_a_name_keeps_the_name_known() -> None:
    record = fold(status(AlertState.QUEUED, 1), status(AlertState.SENT, 2, name=None))
    assert (record.recipient_name, record.event_type) == ("Hillside Primary", EventType.REPORTED)


def _one_at_a_time(
    current: dict[str, AlertRecord], statuses: list[AlertStatusV1]
) -> dict[str, AlertRecord]:
    records = dict(current)
    for message in statuses:
        records[message.alert_id] = record_status(records.get(message.alert_id), message)
    return records


def test_a_batch_of_statuses_leaves_what_one_at_a_time_leaves() -> None:
    stored = {"A1": fold(status(AlertState.QUEUED, 0), status(AlertState.SENT, 1))}
    replay_of_sent = status(AlertState.SENT, 1)
    batch = [
        status(AlertState.QUEUED, 2, alert_id="A2", code="A81001"),
        status(AlertState.ACKNOWLEDGED, 9),
        status(AlertState.SENDING, 3, alert_id="A2", code="A81001", name=None),
        replay_of_sent,  # changes nothing now
        status(AlertState.SENT, 4, alert_id="A2", code="A81001"),
        status(AlertState.QUEUED, 5, alert_id="A3", code="E08000022", name=None),
        status(AlertState.QUEUED, 5, alert_id="A3", code="E08000022", name=None),  # again
    ]
    expected = _one_at_a_time(stored, batch)
    changed = record_statuses(stored, batch)
    # One record an alert, the last each changed to, and none for an unchanged alert.
    assert [r.alert_id for r in changed] == ["A2", "A1", "A3"]
    assert {r.alert_id: r for r in changed} == {i: expected[i] for i in ("A1", "A2", "A3")}
    assert expected["A2"].state is AlertState.SENT and expected["A1"].acknowledged_at
    assert record_statuses(expected, [replay_of_sent, batch[-1]]) == []


def test_the_latest_answer_stands_and_its_text_is_not_kept() -> None:
    first = record_answer(None, answer(Answer.INFORMATION, 5))
    assert first is not None and first.answer is Answer.INFORMATION
    assert "Seen" not in repr(first)
    later = record_answer(first, answer(Answer.HERE_NOW, 8))
    assert later is not None and later.answer is Answer.HERE_NOW
    assert record_answer(later, answer(Answer.INFORMATION, 5)) is None


def test_the_answer_groups_alerts_by_recipient_in_the_order_first_told() -> None:
    alerts = [
        fold(status(AlertState.SENT, 3, alert_id="A2", kind=AlertKind.FOUND)),
        fold(status(AlertState.SENT, 1), status(AlertState.ACKNOWLEDGED, 4)),
        fold(status(AlertState.SENT, 2, alert_id="G1", code="A81001", name=None)),
        fold(status(AlertState.SENT, 6, alert_id="P1", code="10", kind=AlertKind.ANSWER)),
    ]
    events = [AcceptedEventV1(event_id="E1", type=EventType.REPORTED, accepted_at=T0)]
    answers = [record_answer(None, answer(Answer.HERE_NOW, 5))]
    result = episode_status("10", "R1", events, alerts, [a for a in answers if a])
    assert [(r.organisation_code, [a.alert_id for a in r.alerts]) for r in result.recipients] == [
        ("100001", ["A1", "A2"]),
        ("A81001", ["G1"]),
    ]
    school, gp = result.recipients
    # The answer is the latest message to name the school.
    assert school.organisation_name == "Hillside Primary School"
    assert (school.alerts[0].answer, school.alerts[1].answer) == (Answer.HERE_NOW, None)
    assert gp.organisation_name is None
    assert result.events == events

"""Read-model projections: messages to rows, whatever order the messages come in."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime, timedelta

from schemas.child_identity import ChildIdentityV1, LinkBasis
from schemas.episode import EpisodeEventV1, EventType
from schemas.messages import (
    AlertKind,
    AlertRequestedV1,
    AlertState,
    AlertStatusV1,
    ChildSummaryV1,
    DeadLetterV1,
    EpisodeRefV1,
    IngestRejectedV1,
    OrgKind,
    RecipientV1,
    RhiTaskState,
    RhiTaskStatusV1,
)
from services.console import alert_rows, projections, rhi_rows

T0 = datetime(2025, 3, 1, 22, 0, tzinfo=UTC)
NOW = datetime(2025, 3, 2, 9, 0, tzinfo=UTC)


def event(event_id: str, type_: str, at: datetime, grade: str | None = None) -> EpisodeEventV1:
    return EpisodeEventV1.model_validate(
        {
            "message_id": f"m-{event_id}",
            "event_id": event_id,
            "type": type_,
            "occurred_at": at,
            "force_code": "10",
            "episode_ref": "NB-1",
            "child": {
                "given_name": "Jordan",
                "family_name": "Smith",
                "date_of_birth": "2011-05-02",
                "nhs_number": "9434765919",
                "postcode": "NE61 1AA",
            },
            "risk": {"grade": grade} if grade else None,
            "accepted_at": at + timedelta(seconds=5),
            "source": "test",
        }
    )


def status(message_id: str, state: AlertState, at: datetime) -> AlertStatusV1:
    return AlertStatusV1(
        message_id=message_id,
        alert_id="a1",
        state=state,
        kind=AlertKind.REPORTED,
        recipient_code="100001",
        recipient_kind=OrgKind.SCHOOL,
        force_code="10",
        episode_ref="NB-1",
        event_message_id="m-e1",
        at=at,
    )


def test_an_event_row_keeps_what_the_timeline_needs_and_no_more() -> None:
    row = projections.event_row(event("e1", "reported", T0, "high"))
    assert row["initials"] == "J.S." and row["birth_year"] == 2011
    assert row["episode_key"] == "10:NB-1" and row["risk_grade"] == "high"
    # The child's timeline names the child; the NHS number and home postcode are
    # nobody's business in the console.
    assert (row["given_name"], row["family_name"]) == ("Jordan", "Smith")
    assert row["date_of_birth"] == date(2011, 5, 2)
    text = json.dumps(row, default=str)
    for secret in ("9434765919", "1AA"):
        assert secret not in text
    # Only the home postcode's district, for the partnership's figures by locality.
    assert row["home_district"] == "NE61"
    assert "child_key" not in row  # which child is the router's (child-identities)


def test_a_child_link_row_carries_its_revision() -> None:
    link = ChildIdentityV1(
        message_id="m-link",
        child_id="5b1f8a3c-2e4d-5f60-8a1b-9c0d7e6f5a42",
        force_code="10",
        episode_ref="NB-1",
        revision=3,
        basis=LinkBasis.MERGED,
        previous_child_id="e3a94c27-8b15-5d6f-a0c2-7f1e5b3d9a08",
        at=T0,
    )
    row = projections.child_link_row(link)
    assert (row["episode_key"], row["revision"], row["basis"]) == ("10:NB-1", 3, "merged")
    assert row["previous_child_id"] == "e3a94c27-8b15-5d6f-a0c2-7f1e5b3d9a08"


def test_found_where_and_with_whom_are_kept_on_the_event() -> None:
    found = EpisodeEventV1.model_validate(
        {
            **event("e2", "found", T0 + timedelta(hours=5)).model_dump(mode="json"),
            "location": {"postcode": "NE1 4XF", "description": "Haymarket bus station"},
            "found_with": [{"given_name": "Kai", "family_name": "Reed"}],
        }
    )
    row = projections.event_row(found)
    assert (row["location_postcode"], row["location_description"]) == (
        "NE1 4XF",
        "Haymarket bus station",
    )
    assert json.loads(row["found_with"]) == [
        {"given_name": "Kai", "family_name": "Reed", "date_of_birth": None}
    ]


def test_the_episode_summary_does_not_depend_on_arrival_order() -> None:
    rows = [
        projections.event_row(event("e1", "reported", T0, "medium")),
        projections.event_row(event("e2", "risk-changed", T0 + timedelta(hours=2), "high")),
        projections.event_row(event("e3", "found", T0 + timedelta(hours=5))),
    ]
    summaries = {
        tuple(sorted(projections.summarise_episode("10", "NB-1", order, NOW).items()))
        for order in itertools.permutations(rows)
    }
    assert len(summaries) == 1
    summary = dict(summaries.pop())
    assert summary["latest_event_type"] == "found"
    assert summary["risk_grade"] == "high"  # the latest grade, kept past an ungraded event
    assert summary["first_event_at"] == T0
    assert summary["event_count"] == 3


def test_the_latest_alert_state_wins_whatever_the_order() -> None:
    states = [
        alert_rows.alert_state_row(status("s1", AlertState.QUEUED, T0)),
        alert_rows.alert_state_row(status("s2", AlertState.SENT, T0 + timedelta(minutes=1))),
        alert_rows.alert_state_row(status("s3", AlertState.ACKNOWLEDGED, T0 + timedelta(hours=1))),
    ]
    for order in itertools.permutations(states):
        latest = alert_rows.latest_alert_state(order)
        assert latest["state"] == "acknowledged"
        assert latest["state_at"] == T0 + timedelta(hours=1)


def test_at_the_same_time_the_state_further_along_wins() -> None:
    states = [
        alert_rows.alert_state_row(status("s9", AlertState.SENDING, T0)),
        alert_rows.alert_state_row(status("s1", AlertState.SENT, T0)),
    ]
    assert alert_rows.latest_alert_state(states)["state"] == "sent"


def test_a_status_without_an_offset_is_taken_as_utc() -> None:
    naive = status("s1", AlertState.SENT, datetime(2025, 3, 1, 22, 0))
    assert alert_rows.alert_state_row(naive)["at"] == T0


def test_an_alert_known_only_from_its_status_has_an_episode_key() -> None:
    row = alert_rows.alert_from_status(status("s1", AlertState.SENT, T0))
    assert row["episode_key"] == "10:NB-1" and row["recipient_kind"] == "school"


def test_an_alert_request_gives_recipient_and_a_placeholder_episode() -> None:
    alert = AlertRequestedV1(
        message_id="a1",
        alert_id="a1",
        kind=AlertKind.REPORTED,
        recipient=RecipientV1(
            code="100001", kind=OrgKind.SCHOOL, name="Hill School", email="dsl@hill.example"
        ),
        child=ChildSummaryV1(
            given_name="Jordan", family_name="Smith", date_of_birth=date(2011, 5, 2)
        ),
        episode=EpisodeRefV1(
            force_code="10",
            episode_ref="NB-1",
            event_id="e1",
            event_message_id="m-e1",
            event_type=EventType.REPORTED,
            occurred_at=T0,
        ),
        reason="on roll",
        policy_rule="reported.school",
        requested_at=T0,
    )
    row = alert_rows.alert_request_row(alert)
    assert row["recipient_name"] == "Hill School" and row["episode_key"] == "10:NB-1"
    placeholder = projections.episode_placeholder(alert, NOW)
    assert placeholder["initials"] == "J.S." and placeholder["event_count"] == 0
    # The child the router named on the alert, until its link for the episode comes.
    assert placeholder["child_id"] is None
    named = projections.episode_placeholder(
        alert.model_copy(update={"child_id": "5b1f8a3c-2e4d-5f60-8a1b-9c0d7e6f5a42"}), NOW
    )
    assert named["child_id"] == "5b1f8a3c-2e4d-5f60-8a1b-9c0d7e6f5a42"


def test_an_rhi_status_replaces_only_an_older_state() -> None:
    later = RhiTaskStatusV1(
        message_id="r2",
        task_id="t1",
        state=RhiTaskState.REMINDED,
        authority_code="E06000057",
        force_code="10",
        episode_ref="NB-1",
        due_at=T0 + timedelta(hours=72),
        at=T0 + timedelta(hours=48),
    )
    assert rhi_rows.rhi_status_is_newer(None, None, later)
    assert rhi_rows.rhi_status_is_newer("open", T0, later)
    assert not rhi_rows.rhi_status_is_newer("completed", T0 + timedelta(hours=50), later)


def test_a_dead_letter_row_drops_the_payload() -> None:
    letter = DeadLetterV1(
        message_id="dlq:router:episode-events.v1:0:7",
        topic="episode-events.v1",
        partition=0,
        offset=7,
        key="10:NB-1",
        consumer="router",
        error="boom",
        failed_at=T0,
        payload='{"child": {"given_name": "Jordan"}}',
    )
    row = projections.dead_letter_row(letter, "episode-events.v1.dlq")
    assert "payload" not in row and "Jordan" not in json.dumps(row, default=str)
    assert row["kafka_offset"] == 7 and row["dlq_topic"] == "episode-events.v1.dlq"


def test_a_reject_row_keeps_every_reason() -> None:
    reject = IngestRejectedV1(
        message_id="r1",
        received_at=T0,
        channel="http",
        source="key:10-a",
        force_code="10",
        event_id="e9",
        errors=[
            {"field": "child.nhs_number", "message": "bad check digit"},
            {"field": "type", "message": "unknown"},
        ],
    )
    row = projections.reject_row(reject)
    assert [e["field"] for e in json.loads(row["errors"])] == ["child.nhs_number", "type"]

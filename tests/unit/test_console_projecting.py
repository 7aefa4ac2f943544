"""The console's projection handlers (services/console/projecting.py, run by
services/console/handlers.py) over the in-memory read model
(tests/unit/console_fakes.py): what each message leaves in it, whatever order the
messages come in. The SQL projection: tests/integration/test_console_*.py."""

from __future__ import annotations

from datetime import date, timedelta

from schemas.child_identity import ChildIdentityV1, LinkBasis
from schemas.episode import EventType
from schemas.messages import (
    AlertKind,
    AlertRequestedV1,
    AlertState,
    ChildSummaryV1,
    DeadLetterV1,
    EpisodeRefV1,
    IdentityCandidateV1,
    IdentityDecisionV1,
    IdentityReviewV1,
    OrgKind,
    RecipientV1,
    RhiOutcome,
    RhiTaskRequestedV1,
    RhiTaskState,
    RhiTaskStatusV1,
)
from schemas.rhi_record import RhiTaskOutcomeV2
from services.console import projecting
from tests.unit.console_fakes import MemoryConsoleProjection
from tests.unit.test_console_projections import NOW, T0, event, status

KEY = "10:NB-1"
CHILD = ChildSummaryV1(given_name="Jordan", family_name="Smith", date_of_birth=date(2011, 5, 2))
COUNCIL = RecipientV1(
    code="E06000057", kind=OrgKind.LOCAL_AUTHORITY, name="Council", email="mc@council.example"
)
ROUTER_CHILD = "5b1f8a3c-2e4d-5f60-8a1b-9c0d7e6f5a42"
ALERT_CHILD = "0c2e4a6b-8d0f-4a1c-9e3b-5d7f9a1c3e5b"


def ref(event_type: EventType = EventType.REPORTED) -> EpisodeRefV1:
    return EpisodeRefV1(
        force_code="10",
        episode_ref="NB-1",
        event_id="e1",
        event_message_id="m-e1",
        event_type=event_type,
        occurred_at=T0,
    )


def alert_request(child_id: str | None = ALERT_CHILD) -> AlertRequestedV1:
    return AlertRequestedV1(
        message_id="a1",
        alert_id="a1",
        kind=AlertKind.REPORTED,
        recipient=COUNCIL,
        child=CHILD,
        child_id=child_id,
        episode=ref(),
        reason="responsible authority",
        policy_rule="reported.la",
        requested_at=T0,
        authority=COUNCIL,
    )


def link(revision: int, child_id: str, previous: str | None = None) -> ChildIdentityV1:
    return ChildIdentityV1(
        message_id=ChildIdentityV1.id_for("10", "NB-1", revision),
        child_id=child_id,
        force_code="10",
        episode_ref="NB-1",
        revision=revision,
        basis=LinkBasis.MERGED if previous else LinkBasis.NEW,
        previous_child_id=previous,
        at=T0 + timedelta(minutes=revision),
    )


async def test_an_episodes_events_summarise_it_whatever_their_order() -> None:
    reported = event("e1", "reported", T0, grade="high")
    found = event("e2", "found", T0 + timedelta(hours=3))
    for order in ([reported, found], [found, reported]):
        model = MemoryConsoleProjection()
        for message in order:
            await projecting.episode_event(model, message)
            await projecting.episode_event(model, message)  # a replay
        episode = model.episodes[KEY]
        assert (episode["event_count"], episode["latest_event_type"]) == (2, "found")
        assert (episode["risk_grade"], episode["first_event_at"]) == ("high", T0)
        assert len(model.events) == 2


async def test_an_alert_request_waits_for_the_batch_then_makes_its_episode() -> None:
    model = MemoryConsoleProjection()
    await projecting.alert_requested(model, alert_request(), NOW)
    assert model.episodes == {} and model.alerts == {}
    await model.flush_alerts()
    episode = model.episodes[KEY]
    assert (episode["authority_code"], episode["child_id"], episode["event_count"]) == (
        COUNCIL.code,
        ALERT_CHILD,
        0,
    )
    assert model.alerts["a1"]["recipient_name"] == "Council"
    # The episode's own events arrive later: they summarise the same row.
    await projecting.episode_event(model, event("e1", "reported", T0, grade="medium"))
    assert model.episodes[KEY]["event_count"] == 1
    assert model.episodes[KEY]["child_id"] == ALERT_CHILD


async def test_an_alert_shows_its_latest_status_whatever_the_order() -> None:
    model = MemoryConsoleProjection()
    sent = status("s2", AlertState.SENT, T0 + timedelta(minutes=1))
    acknowledged = status("s3", AlertState.ACKNOWLEDGED, T0 + timedelta(minutes=9))
    queued = status("s1", AlertState.QUEUED, T0)
    for message in (acknowledged, queued, sent):
        await projecting.alert_status(model, message)
    await model.flush_alerts()
    alert = model.alerts["a1"]
    assert (alert["state"], alert["state_at"]) == ("acknowledged", acknowledged.at)
    assert len(model.alert_states) == 3


def task_status(state: RhiTaskState, hours: int) -> RhiTaskStatusV1:
    return RhiTaskStatusV1(
        message_id=f"t1:{state.value}:{hours}",
        task_id="t1",
        state=state,
        authority_code=COUNCIL.code,
        force_code="10",
        episode_ref="NB-1",
        due_at=T0 + timedelta(hours=72),
        at=T0 + timedelta(hours=hours),
    )


async def test_an_rhi_task_makes_its_episode_and_keeps_only_a_newer_state() -> None:
    model = MemoryConsoleProjection()
    requested = RhiTaskRequestedV1(
        message_id="t1",
        task_id="t1",
        authority=COUNCIL,
        child=CHILD,
        episode=ref(EventType.RETURNED),
        returned_at=T0,
        due_at=T0 + timedelta(hours=72),
        requested_at=T0,
        child_id=ALERT_CHILD,
    )
    await projecting.rhi_task_requested(model, requested, NOW)
    episode = model.episodes[KEY]
    assert (episode["authority_code"], episode["child_id"]) == (COUNCIL.code, ALERT_CHILD)
    await projecting.rhi_task_status(model, task_status(RhiTaskState.REMINDED, 48))
    await projecting.rhi_task_status(model, task_status(RhiTaskState.OPEN, 0))  # late
    task = model.rhi_tasks["t1"]
    assert (task["state"], task["state_at"]) == ("reminded", T0 + timedelta(hours=48))


async def test_the_first_recorded_rhi_outcome_stands() -> None:
    model = MemoryConsoleProjection()

    def record(minutes: int, by: str) -> RhiTaskOutcomeV2:
        return RhiTaskOutcomeV2(
            message_id=f"outcome-{by}",
            task_id="t1",
            outcome=RhiOutcome.DECLINED,
            reason="the child declined",
            recorded_by=by,
            recorded_at=T0 + timedelta(minutes=minutes),
        )

    await projecting.rhi_task_outcome(model, record(10, "later"))
    await projecting.rhi_task_outcome(model, record(5, "first"))
    await projecting.rhi_task_outcome(model, record(20, "last"))
    assert model.rhi_records["t1"]["recorded_by"] == "first"


async def test_a_review_and_its_decision_are_one_row_and_the_routers_link_wins() -> None:
    model = MemoryConsoleProjection()
    await projecting.episode_event(model, event("e1", "reported", T0, grade="medium"))
    await projecting.child_identity(model, link(1, ROUTER_CHILD))
    review = IdentityReviewV1(
        message_id="r1",
        review_id="r1",
        episode=ref(),
        child=CHILD,
        candidates=[IdentityCandidateV1(org_code="100001", roll_record_id="R1", score=0.6)],
        requested_at=T0,
        child_id=ALERT_CHILD,
    )
    await projecting.identity_review(model, review)
    decision = IdentityDecisionV1(
        message_id="d1",
        review_id="r1",
        decision="match",
        roll_record_id="R1",
        decided_by="reviewer",
        decided_at=NOW,
    )
    await projecting.identity_decision(model, decision)
    row = model.reviews["r1"]
    assert (row["org_code"], row["decision"], row["roll_record_id"]) == ("100001", "match", "R1")
    assert model.episodes[KEY]["child_id"] == ROUTER_CHILD


async def test_a_link_moving_an_episode_writes_the_batchs_alerts_first() -> None:
    model = MemoryConsoleProjection()
    await projecting.episode_event(model, event("e1", "reported", T0, grade="medium"))
    await projecting.child_identity(model, link(1, ROUTER_CHILD))
    await projecting.alert_requested(model, alert_request(ROUTER_CHILD), NOW)
    assert model.flushes == 0
    other = "7d9f1b3d-5f7a-4c9e-8b0d-2f4a6c8e0a1b"
    await projecting.child_identity(model, link(2, other, previous=ROUTER_CHILD))
    assert model.flushes == 1 and "a1" in model.alerts
    assert model.episodes[KEY]["child_id"] == other
    # An older revision, late: kept out.
    await projecting.child_identity(model, link(1, ROUTER_CHILD))
    assert model.links[KEY]["revision"] == 2 and model.episodes[KEY]["child_id"] == other


async def test_rejects_and_dead_letters_are_kept_once() -> None:
    model = MemoryConsoleProjection()
    letter = DeadLetterV1(
        message_id="dlq:router:episode-events.v1:0:7",
        topic="episode-events.v1",
        partition=0,
        offset=7,
        key=KEY,
        consumer="router",
        error="boom",
        failed_at=T0,
        payload='{"child": {"given_name": "Jordan"}}',
    )
    for _ in range(2):
        await projecting.dead_letter(model, letter, "episode-events.v1.dlq")
    [row] = model.dead_letters.values()
    assert (row["dlq_topic"], row["kafka_offset"]) == ("episode-events.v1.dlq", 7)
    assert "payload" not in row

"""The router's decide steps (services/router/deciding.py), without a database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.router.deciding import (
    EpisodeFacts,
    apply_disputes,
    decide_episode,
    decide_match,
    identify,
)
from services.router.policy import History, NoResponsibleAuthorityError, Policy, route
from services.router.weights import BASELINE
from tests.unit.test_router_matching import record
from tests.unit.test_router_policy import AT, NCL, NLD, ORGS, event, match

NOW = AT + timedelta(minutes=1)


def facts(*decisions: object, child_id: str = "", orgs: dict | None = None) -> EpisodeFacts:
    return EpisodeFacts(
        decisions=list(decisions),  # type: ignore[arg-type]
        child_id=child_id or str(uuid.uuid4()),
        history=History(),
        organisations=ORGS if orgs is None else orgs,
    )


def test_the_plan_is_the_policys_with_every_message_naming_the_child() -> None:
    e = event("returned", child={"responsible_la": NLD})
    known = facts(match("100001"), match("A81001", "R2", "review"))
    plan = decide_episode(e, known, Policy(), NOW)
    expected = route(e, known.decisions, ORGS, History(), Policy(), now=NOW)
    assert [a.alert_id for a in plan.alerts] == [a.alert_id for a in expected.alerts]
    assert [t.task_id for t in plan.rhi_tasks] == [t.task_id for t in expected.rhi_tasks]
    assert [r.review_id for r in plan.reviews] == [r.review_id for r in expected.reviews]
    assert plan.alerts and plan.rhi_tasks and plan.reviews
    messages = [*plan.alerts, *plan.rhi_tasks, *plan.reviews]
    assert {m.child_id for m in messages} == {known.child_id}
    assert {a.requested_at for a in plan.alerts} == {NOW}


def test_an_event_no_authority_can_take_is_refused() -> None:
    orgs = {c: o for c, o in ORGS.items() if c not in {NLD, NCL}}
    with pytest.raises(NoResponsibleAuthorityError):
        decide_episode(event("reported"), facts(orgs=orgs), Policy(), NOW)


def test_disputes_turn_a_match_into_a_review_or_no_match() -> None:
    decisions = [match("100001"), match("A81001"), match("YOT-NLD"), match("X", decision="review")]
    states = {"100001": "disputed", "A81001": "refuted", "YOT-NLD": "confirmed", "X": "refuted"}
    assert [d.decision for d in apply_disputes(decisions, states)] == [
        "review",
        "no-match",
        "match",
        "review",
    ]


def test_identify_matches_on_the_local_date_of_the_event() -> None:
    # 23:30 UTC on 31 March 2026 is 00:30 on 1 April in England: the pupil who joins
    # on 1 April is on roll.
    e = event(occurred_at=datetime(2026, 3, 31, 23, 30, tzinfo=UTC).isoformat())
    pupil = record(valid_from=datetime(2026, 4, 1).date())
    assert [d.decision for d in identify(e, [pupil], {}, BASELINE)] == ["match"]
    assert [d.decision for d in identify(e, [pupil], {"100001": "disputed"}, BASELINE)] == [
        "review"
    ]


def test_a_decided_match_releases_the_organisations_alert_naming_the_child() -> None:
    e = event("reported", child={"responsible_la": NLD})
    alerts = decide_match(e, "100001", "R1", ORGS, "child-1", NOW)
    assert [(a.recipient.code, a.roll_record_id, a.child_id) for a in alerts] == [
        ("100001", "R1", "child-1")
    ]

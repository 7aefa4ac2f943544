"""Identity reviews, pure parts: which alerts a person's ``match`` decision releases for
a held event (the same as :func:`route` would have sent), and which decisions are refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.base import derived_id
from schemas.messages import AlertKind, OrgKind
from services.router.directory import Organisation
from services.router.matching import MatchDecision
from services.router.policy import History, Policy, route, route_decided
from services.router.review_store import Candidate, HeldReview, refusal
from tests.unit.test_router_policy import NCL, NLD, ORGS, event

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def matched_by_route(e, org_code: str, record_id: str) -> list:  # type: ignore[no-untyped-def]
    """What the policy sends ``org_code`` when the matcher itself is sure."""
    plan = route(
        e,
        [MatchDecision("match", org_code, record_id, 1.0, {})],
        ORGS,
        History(),
        Policy(),
        now=NOW,
    )
    return [a for a in plan.alerts if a.recipient.code == org_code]


@pytest.mark.parametrize(
    ("type_", "org_code", "rule", "reason"),
    [
        ("reported", "100001", "reported.school", "on the school roll"),
        ("found", "A81001", "found.gp", "registered patient"),
        ("returned", "YOT-NLD", "returned.yot", "open YOT case"),
        ("still-missing", "100001", "still-missing.school", "on the school roll"),
    ],
)
def test_a_decided_match_alerts_the_organisation_as_a_sure_match_would(
    type_: str, org_code: str, rule: str, reason: str
) -> None:
    e = event(type_)
    [alert] = route_decided(e, org_code, "R9", ORGS, now=NOW)
    assert (alert.policy_rule, alert.reason, alert.roll_record_id) == (rule, reason, "R9")
    assert alert.recipient.code == org_code and alert.kind is AlertKind(type_)
    # The same id as routing with a sure match: a replay or a redelivered decision makes
    # no second alert.
    assert alert.alert_id == derived_id(e.message_id, org_code, type_)
    assert [
        a.model_dump(exclude={"requested_at"}) for a in matched_by_route(e, org_code, "R9")
    ] == [alert.model_dump(exclude={"requested_at"})]
    # Data minimisation holds for released alerts too.
    dumped = alert.model_dump_json()
    assert "bus station" not in dumped and "self-harm" not in dumped and "Sam" not in dumped


def test_risk_changed_reaches_only_a_yot_and_only_at_high_risk() -> None:
    high = event("risk-changed", risk={"grade": "high", "factors": []})
    [alert] = route_decided(high, "YOT-NLD", "Y1", ORGS, now=NOW)
    assert alert.policy_rule == "risk-changed.yot"
    assert route_decided(high, "100001", "S1", ORGS, now=NOW) == []
    medium = event("risk-changed", risk={"grade": "medium", "factors": []})
    assert route_decided(medium, "YOT-NLD", "Y1", ORGS, now=NOW) == []
    assert route_decided(event("closed", risk=None), "100001", "S1", ORGS, now=NOW) == []


def test_no_alert_for_an_organisation_gone_from_the_directory_or_not_on_a_roll() -> None:
    assert route_decided(event(), "999999", "S1", ORGS, now=NOW) == []
    assert route_decided(event(), NLD, "S1", ORGS, now=NOW) == []  # an authority has no roll


def test_a_looked_after_child_also_reaches_the_authority_where_they_live() -> None:
    orgs = {
        **ORGS,
        "100009": Organisation(
            "100009", OrgKind.SCHOOL, "Ncl School", "s@ncl.example", la_code=NCL
        ),
    }
    e = event(child={"looked_after": True, "responsible_la": NLD})
    school, resident = route_decided(e, "100009", "S1", orgs, now=NOW)
    assert school.recipient.code == "100009"
    assert (resident.recipient.code, resident.policy_rule) == (NCL, "reported.la-resident")
    assert resident.alert_id == derived_id(e.message_id, NCL, "reported")
    # The placing authority itself is not told again.
    e = event(child={"looked_after": True, "responsible_la": NLD})
    assert [a.recipient.code for a in route_decided(e, "100001", "S1", ORGS, now=NOW)] == ["100001"]


def held(state: str = "pending") -> HeldReview:
    return HeldReview(
        review_id="rev-1",
        event_message_id="m-1",
        org_code="100001",
        force_code="10",
        episode_ref="MP/1",
        event_type="reported",
        candidates=(Candidate("S1", 0.5, {"nhs_number": "agree"}), Candidate("S2", 0.4)),
        state=state,  # type: ignore[arg-type]
        created_at=NOW,
        event_json={},
        decided_by="Ann" if state != "pending" else None,
        decided_at=NOW if state != "pending" else None,
    )


def test_decisions_are_refused_with_a_reason_naming_what_is_wrong() -> None:
    assert refusal(held(), "rev-1", "match", "S2") is None
    assert refusal(held(), "rev-1", "no-match", None) is None
    assert refusal(None, "rev-x", "match", "S1") == "no identity review rev-x"
    decided = refusal(held("matched"), "rev-1", "match", "S1")
    assert decided is not None and "already decided (matched by Ann" in decided
    other = refusal(held(), "rev-1", "match", "S7")
    assert other is not None and "S7 is not one of its candidates (S1, S2)" in other
    assert "must name" in (refusal(held(), "rev-1", "match", None) or "")
    assert "names no roll record" in (refusal(held(), "rev-1", "no-match", "S1") or "")


def test_a_review_summary_holds_ids_and_agreements_never_the_child() -> None:
    review = held()
    review = HeldReview(
        **{**review.__dict__, "event_json": event().model_dump(mode="json")}  # type: ignore[arg-type]
    )
    summary = review.summary()
    text = str(summary)
    assert summary["candidates"][0] == {
        "roll_record_id": "S1",
        "score": 0.5,
        "explanation": {"nhs_number": "agree"},
    }
    for personal in ("Zoë", "O'Brien", "2012-05-31", "NE61", "High St"):
        assert personal not in text

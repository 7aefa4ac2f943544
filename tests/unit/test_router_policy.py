"""Routing rules of the default policy (DESIGN §6) and data minimisation."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.base import derived_id
from schemas.episode import EpisodeEventV1
from schemas.messages import AlertKind, OrgKind
from services.router.directory import Organisation
from services.router.matching import MatchDecision
from services.router.policy import (
    History,
    NoResponsibleAuthorityError,
    Policy,
    PolicyError,
    RoutingPlan,
    route,
)

AT = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
NLD, NCL, OXF = "E06000057", "E08000021", "E10000025"
ORGS = {
    o.code: o
    for o in [
        Organisation("100001", OrgKind.SCHOOL, "Morpeth School", "dsl@school.example", la_code=NLD),
        Organisation("A81001", OrgKind.GP_PRACTICE, "Surgery", "gp@nhs.example", la_code=NLD),
        Organisation("YOT-NLD", OrgKind.YOT, "YOT", "yot@n.example", la_code=NLD),
        Organisation(NLD, OrgKind.LOCAL_AUTHORITY, "Northumberland", "mc@n.example", la_code=NLD),
        Organisation(NCL, OrgKind.LOCAL_AUTHORITY, "Newcastle", "mc@ncl.example", la_code=NCL),
        Organisation("MSET-NLD", OrgKind.MSET_PANEL, "MSET", "mset@n.example", la_code=NLD),
    ]
}


def event(type_: str = "reported", **changes: Any) -> EpisodeEventV1:
    child = {
        "given_name": "Zoë",
        "family_name": "O'Brien",
        "date_of_birth": "2012-05-31",
        "postcode": "NE61 1AA",
        "address": "1 High St",
    }
    child.update(changes.pop("child", {}))
    values: dict[str, Any] = {
        "message_id": str(uuid.uuid4()),
        "event_id": "ev-1",
        "type": type_,
        "occurred_at": AT.isoformat(),
        "force_code": "10",
        "episode_ref": "MP/1",
        "child": child,
        "accepted_at": AT.isoformat(),
        "source": "test",
        "risk": {"grade": "medium", "factors": ["self-harm"]},
        "location": {"postcode": "NE1 4XF", "description": "bus station"},
        "found_with": [{"given_name": "Sam", "family_name": "Lee"}],
        "police_contact": {"name": "PC Smith", "phone": "101"},
    }
    values.update(changes)
    return EpisodeEventV1.model_validate(values)


def match(org_code: str, record_id: str = "R1", decision: str = "match") -> MatchDecision:
    return MatchDecision(decision, org_code, record_id, 1.0, {"given_name": "agree"})  # type: ignore[arg-type]


def plan_for(
    e: EpisodeEventV1,
    matches: list[MatchDecision] | None = None,
    orgs: dict[str, Organisation] | None = None,
    history: History | None = None,
    policy: Policy | None = None,
) -> RoutingPlan:
    return route(
        e, matches or [], ORGS if orgs is None else orgs, history or History(), policy or Policy()
    )


def recipients(plan: RoutingPlan) -> dict[str, str]:
    return {a.recipient.code: a.policy_rule for a in plan.alerts}


@pytest.mark.parametrize("type_", ["reported", "still-missing", "found", "returned"])
def test_support_events_reach_school_gp_yot_and_the_authority(type_: str) -> None:
    e = event(type_)
    plan = plan_for(e, [match("100001"), match("A81001", "P1"), match("YOT-NLD", "Y1")])
    assert recipients(plan) == {
        "100001": f"{type_}.school",
        "A81001": f"{type_}.gp",
        "YOT-NLD": f"{type_}.yot",
        NLD: f"{type_}.la",
    }
    school = next(a for a in plan.alerts if a.recipient.code == "100001")
    assert school.alert_id == school.message_id == derived_id(e.message_id, "100001", type_)
    assert school.kind == AlertKind(type_)
    assert school.reason == "on the school roll"
    assert school.roll_record_id == "R1"
    assert school.episode.episode_ref == "MP/1" and school.episode.event_type.value == type_


def test_reviews_are_not_alerted_but_queued() -> None:
    e = event(child={"responsible_la": NLD})
    plan = plan_for(e, [match("100001", "R1", "review"), match("100001", "R2", "review")])
    assert recipients(plan) == {NLD: "reported.la"}
    [review] = plan.reviews
    assert review.review_id == derived_id(e.message_id, "100001", "review")
    assert [c.roll_record_id for c in review.candidates] == ["R1", "R2"]


def test_an_unmatched_child_reaches_only_the_authority() -> None:
    # Two authorities are imported and nothing matched: the policy's default decides.
    plan = plan_for(event(), policy=Policy(default_la=NCL))
    assert recipients(plan) == {NCL: "reported.la"}


def test_looked_after_child_tells_placing_and_resident_authorities() -> None:
    e = event(child={"looked_after": True, "responsible_la": NCL})
    plan = plan_for(e, [match("100001")])
    assert recipients(plan) == {
        "100001": "reported.school",
        NCL: "reported.la",
        NLD: "reported.la-resident",
    }
    reasons = {a.recipient.code: a.reason for a in plan.alerts}
    assert reasons[NLD] == "local authority where the child lives"


def test_responsible_authority_fallbacks() -> None:
    # 1. child.responsible_la
    assert NCL in recipients(plan_for(event(child={"responsible_la": NCL}), [match("100001")]))
    # 2. the la_code of the matched organisations
    assert recipients(plan_for(event(), [match("A81001")]))[NLD] == "reported.la"
    # 3. the policy's default
    assert NCL in recipients(plan_for(event(), policy=Policy(default_la=NCL)))
    # 4. the only local authority imported
    only = {c: o for c, o in ORGS.items() if c != NCL}
    assert NLD in recipients(plan_for(event(), orgs=only))


def test_no_authority_at_all_is_an_error_naming_the_event() -> None:
    e = event()
    with pytest.raises(NoResponsibleAuthorityError, match=e.message_id):
        plan_for(e)  # two authorities, nothing matched, no default
    with pytest.raises(NoResponsibleAuthorityError, match=OXF):
        plan_for(event(child={"responsible_la": OXF}), orgs={"100001": ORGS["100001"]})


def test_returned_requests_an_rhi_task_due_72_hours_after_return() -> None:
    e = event("returned", child={"looked_after": True, "responsible_la": NCL})
    [task] = plan_for(e, [match("100001")]).rhi_tasks
    assert task.authority.code == NCL
    assert task.due_at == AT + timedelta(hours=72)
    assert task.returned_at == AT
    assert task.task_id == task.message_id == derived_id(e.message_id, NCL, "rhi")
    assert task.looked_after
    assert plan_for(event("found"), [match("100001")]).rhi_tasks == []


def test_rhi_due_hours_follow_the_policy() -> None:
    [task] = plan_for(
        event("returned"), [match("100001")], policy=Policy(rhi_due_hours=48)
    ).rhi_tasks
    assert task.due_at == AT + timedelta(hours=48)


@pytest.mark.parametrize("risk", [{"grade": "high"}, {"grade": "low", "factors": ["cse"]}])
def test_reported_with_high_risk_or_exploitation_tells_the_mset_panel(risk: dict) -> None:
    plan = plan_for(event(risk=risk), [match("100001")])
    assert recipients(plan)["MSET-NLD"] == "reported.mset"
    mset = next(a for a in plan.alerts if a.recipient.code == "MSET-NLD")
    assert mset.reason == "MSET: high risk or exploitation"


def test_reported_at_medium_risk_does_not_tell_the_panel() -> None:
    assert "MSET-NLD" not in recipients(plan_for(event(), [match("100001")]))


def test_risk_changed_to_high_tells_yot_authority_and_panel_only() -> None:
    matches = [match("100001"), match("A81001", "P1"), match("YOT-NLD", "Y1")]
    plan = plan_for(event("risk-changed", risk={"grade": "high"}), matches)
    assert recipients(plan) == {
        "YOT-NLD": "risk-changed.yot",
        NLD: "risk-changed.la",
        "MSET-NLD": "risk-changed.mset",
    }
    low = plan_for(event("risk-changed", risk={"grade": "low", "factors": ["self-harm"]}), matches)
    assert low.alerts == [] and low.reviews == []


def test_closed_tells_the_authority_only() -> None:
    plan = plan_for(event("closed"), [match("100001"), match("YOT-NLD", "Y1")])
    assert recipients(plan) == {NLD: "closed.la"}


def test_third_episode_in_90_days_flags_repeat_missing_to_the_panel() -> None:
    e = event()
    two = History([AT - timedelta(days=80), AT])
    assert "MSET-NLD" not in recipients(plan_for(e, [match("100001")], history=two))
    three = History([AT - timedelta(days=89), AT - timedelta(days=30), AT])
    plan = plan_for(e, [match("100001")], history=three)
    repeat = [a for a in plan.alerts if a.kind is AlertKind.REPEAT_MISSING]
    assert [(a.recipient.code, a.reason, a.policy_rule) for a in repeat] == [
        ("MSET-NLD", "MSET: repeat missing", "repeat.mset")
    ]
    assert repeat[0].alert_id == derived_id(e.message_id, "MSET-NLD", "repeat-missing")
    assert plan.flags_repeat
    old = History([AT - timedelta(days=91), AT - timedelta(days=30), AT])
    assert not plan_for(e, [match("100001")], history=old).flags_repeat


def test_repeat_missing_is_flagged_once_per_episode_and_configurable() -> None:
    three = History(
        [AT - timedelta(days=2), AT - timedelta(days=1), AT], repeat_already_flagged=True
    )
    assert not plan_for(event(), [match("100001")], history=three).flags_repeat
    two = History([AT - timedelta(days=1), AT])
    assert plan_for(
        event(), [match("100001")], history=two, policy=Policy(repeat_threshold=2)
    ).flags_repeat
    assert not plan_for(event("found"), [match("100001")], history=History([AT] * 5)).flags_repeat


def test_alerts_carry_no_risk_location_associates_or_free_text() -> None:
    e = event("returned", risk={"grade": "high", "factors": ["cse"]})
    plan = plan_for(e, [match("100001"), match("YOT-NLD", "Y1")], history=History([AT] * 3))
    assert plan.alerts
    for message in [*plan.alerts, *plan.rhi_tasks]:
        dumped = message.model_dump_json()
        for secret in (
            "cse",
            "high",
            "bus station",
            "NE1 4XF",
            "Sam",
            "Lee",
            "1 High St",
            "NE61 1AA",
            "risk",
            "location",
            "found_with",
        ):
            assert secret not in dumped, (secret, type(message).__name__)
        assert message.child.model_dump() == {
            "given_name": "Zoë",
            "family_name": "O'Brien",
            "date_of_birth": date(2012, 5, 31),
            "nhs_number": None,  # a GP practice's alert only, and the police sent none
        }
    assert plan.alerts[0].police_contact is not None
    assert plan.alerts[0].police_contact.name == "PC Smith"


def test_policy_file(tmp_path: Path) -> None:
    good = tmp_path / "policy.toml"
    good.write_text(
        f"[routing]\nrepeat_threshold = 2\ndefault_la = \"{NLD}\"\n[deadlines]\nschool = '08:30'\n"
    )
    assert Policy.from_toml(good) == Policy(repeat_threshold=2, default_la=NLD)
    for text, key in [
        ("repeat_threshold = 0", "repeat_threshold"),
        ('default_la = "nowhere"', "default_la"),
        ("repeat_treshold = 2", "repeat_treshold"),
    ]:
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(PolicyError, match=key):
            Policy.from_toml(bad)

"""The acceptance decision: valid events, field errors named as DESIGN §4, force checks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.episode import episode_message_id
from services.ingest.acceptance import (
    Forbidden,
    Invalid,
    Valid,
    accepted_event,
    decide,
    parse_json,
)


def event(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": "NB-1",
        "type": "reported",
        "occurred_at": "2026-03-01T21:40:00+00:00",
        "force_code": "10",
        "episode_ref": "MISS/1",
        "child": {
            "given_name": "Amy",
            "family_name": "Smith",
            "date_of_birth": "2012-05-04",
            "nhs_number": "9434765919",
        },
        "risk": {"grade": "medium"},
    }
    base.update(changes)
    return base


def test_a_valid_event_becomes_its_topic_form_with_a_derived_id() -> None:
    decision = decide(event(), "10")
    assert isinstance(decision, Valid)
    at = datetime(2026, 3, 1, 22, tzinfo=UTC)
    out = accepted_event(decision.submission, "Northumbria PNC bridge", at)
    assert out.message_id == episode_message_id("10", "NB-1")
    assert (out.accepted_at, out.source, out.episode_key) == (
        at,
        "Northumbria PNC bridge",
        "10:MISS/1",
    )


def test_field_errors_name_the_field() -> None:
    bad = event(child={**event()["child"], "nhs_number": "9434765918"})
    decision = decide(bad, "10")
    assert isinstance(decision, Invalid)
    assert [e["field"] for e in decision.errors] == ["child.nhs_number"]
    assert (decision.force_code, decision.event_id) == ("10", "NB-1")


def test_the_police_person_id_is_kept_and_refused_naming_it_when_bad() -> None:
    good = decide(event(child={**event()["child"], "police_person_id": " NP-4471/22 "}), "10")
    assert isinstance(good, Valid) and good.submission.child.police_person_id == "NP-4471/22"
    for bad_id in ("N1\x00", "N1\x1b[31m", "line\nbreak", "N\u202e1", "9" * 65):
        decision = decide(event(child={**event()["child"], "police_person_id": bad_id}), "10")
        assert isinstance(decision, Invalid), bad_id
        assert [e["field"] for e in decision.errors] == ["child.police_person_id"]


def test_cross_field_rules_name_their_field_too() -> None:
    decision = decide(event(risk=None), "10")
    assert isinstance(decision, Invalid)
    assert decision.errors[0]["field"] == "risk.grade"
    adult = decide(event(child={**event()["child"], "date_of_birth": "2000-01-01"}), "10")
    assert isinstance(adult, Invalid) and adult.errors[0]["field"] == "child.date_of_birth"


def test_every_error_is_reported_at_once() -> None:
    decision = decide(event(type="vanished", occurred_at="yesterday"), "10")
    assert isinstance(decision, Invalid)
    assert {e["field"] for e in decision.errors} == {"type", "occurred_at"}


def test_another_forces_code_is_forbidden_even_with_other_errors() -> None:
    decision = decide(event(force_code="11", type="nope"), "10")
    assert isinstance(decision, Forbidden) and decision.force_code == "11"


def test_an_invalid_force_code_is_a_field_error_not_a_refusal() -> None:
    decision = decide(event(force_code="1x"), "10")
    assert isinstance(decision, Invalid)
    assert [e["field"] for e in decision.errors] == ["force_code"]


def test_the_kafka_channel_has_no_key_force() -> None:
    assert isinstance(decide(event(force_code="11"), None), Valid)


def test_non_objects_and_malformed_json_are_body_errors() -> None:
    data, errors = parse_json(b"{nope")
    assert data is None and errors[0]["field"] == "(body)"
    decision = decide([1, 2], "10")
    assert isinstance(decision, Invalid) and decision.errors[0]["field"] == "(body)"
    assert decision.force_code is None


def test_withdrawn_needs_a_plain_reason_of_at_most_500_characters() -> None:
    withdrawn = event(type="withdrawn", risk=None)
    missing = decide(withdrawn, "10")
    assert isinstance(missing, Invalid)
    assert missing.errors == [{"field": "reason", "message": "required when type is withdrawn"}]
    for bad in ("x" * 501, "wrong\x1b[2Jchild"):
        refused = decide({**withdrawn, "reason": bad}, "10")
        assert isinstance(refused, Invalid) and refused.errors[0]["field"] == "reason"
    ok = decide({**withdrawn, "reason": "Raised for the wrong child"}, "10")
    assert isinstance(ok, Valid)
    assert ok.submission.reason == "Raised for the wrong child"

"""The ingest payload's rules (DESIGN §4) and the field names its errors carry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import schemas
from schemas.episode import EpisodeEventSubmissionV1, EpisodeEventV1
from schemas.errors import field_errors

EXAMPLE = Path(schemas.__file__).resolve().parent / "examples" / "police-events-raw.v1.json"


def _payload(**changes: Any) -> dict[str, Any]:
    payload = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    child = {**payload["child"], **changes.pop("child", {})}
    return {**payload, **changes, "child": child}


def _errors(payload: dict[str, Any]) -> list[dict[str, str]]:
    with pytest.raises(ValidationError) as caught:
        EpisodeEventSubmissionV1.model_validate(payload)
    return field_errors(caught.value)


def test_example_is_valid_and_keyed_by_episode() -> None:
    event = EpisodeEventSubmissionV1.model_validate(_payload())
    assert event.episode_key == "10:10-2026-004518"
    assert event.child.nhs_number == "9434765919"


def test_identifiers_are_normalised() -> None:
    event = EpisodeEventSubmissionV1.model_validate(
        _payload(
            force_code=10,
            child={"postcode": "ne611aa", "nhs_number": "943 476 5919", "upn": "b801200005001"},
        )
    )
    assert (event.force_code, event.child.postcode) == ("10", "NE61 1AA")
    assert (event.child.nhs_number, event.child.upn) == ("9434765919", "B801200005001")


@pytest.mark.parametrize(
    ("child", "field"),
    [
        ({"nhs_number": "9434765918"}, "child.nhs_number"),
        ({"upn": "A801200005001"}, "child.upn"),
        ({"postcode": "not a postcode"}, "child.postcode"),
        ({"responsible_la": "X123"}, "child.responsible_la"),
        ({"given_name": ""}, "child.given_name"),
        ({"date_of_birth": "2012-02-30"}, "child.date_of_birth"),
    ],
)
def test_field_errors_name_the_child_field(child: dict[str, Any], field: str) -> None:
    assert [e["field"] for e in _errors(_payload(child=child))] == [field]


def test_every_bad_field_is_reported_at_once() -> None:
    errors = _errors(_payload(force_code="1", child={"nhs_number": "123"}, type="lost"))
    assert {e["field"] for e in errors} == {"force_code", "child.nhs_number", "type"}


@pytest.mark.parametrize("kind", ["reported", "risk-changed"])
def test_risk_grade_is_required_on_reported_and_risk_changed(kind: str) -> None:
    for risk in (None, {"factors": ["cse"]}):
        errors = _errors(_payload(type=kind, risk=risk))
        assert errors == [{"field": "risk.grade", "message": f"required when type is {kind}"}]


@pytest.mark.parametrize("kind", ["still-missing", "found", "returned", "closed"])
def test_risk_grade_is_optional_on_other_events(kind: str) -> None:
    EpisodeEventSubmissionV1.model_validate(_payload(type=kind, risk=None))


def test_subject_must_be_under_18_on_occurred_at() -> None:
    # occurred_at is 2026-11-21: born 2008-11-22 is still 17, born 2008-11-21 is 18.
    EpisodeEventSubmissionV1.model_validate(_payload(child={"date_of_birth": "2008-11-22"}))
    errors = _errors(_payload(child={"date_of_birth": "2008-11-21"}))
    assert errors[0]["field"] == "child.date_of_birth"
    assert "18 or over" in errors[0]["message"]


def test_birth_after_the_event_is_refused() -> None:
    errors = _errors(_payload(child={"date_of_birth": "2026-12-01"}))
    assert errors[0]["field"] == "child.date_of_birth"


def test_occurred_at_needs_an_offset() -> None:
    errors = _errors(_payload(occurred_at="2026-11-21T22:40:00"))
    assert [e["field"] for e in errors] == ["occurred_at"]


def test_unknown_fields_are_refused() -> None:
    errors = _errors(_payload(child={"ethnicity": "x"}))
    assert [e["field"] for e in errors] == ["child.ethnicity"]


def test_topic_form_carries_acceptance() -> None:
    payload = _payload()
    with pytest.raises(ValidationError):
        EpisodeEventV1.model_validate(payload)
    event = EpisodeEventV1.model_validate(
        {
            **payload,
            "message_id": "m1",
            "accepted_at": "2026-11-21T22:40:03+00:00",
            "source": "http:test",
        }
    )
    assert event.episode_key == "10:10-2026-004518"

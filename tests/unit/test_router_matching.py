"""Matching rules: strong identifiers, exact names and birth date, validity, ambiguity."""

from __future__ import annotations

from datetime import date
from typing import Any

from schemas.episode import ChildV1
from services.router.directory import RollRecord
from services.router.matching import child_key, match_child
from services.router.names import normalise_name

ON = date(2026, 3, 10)
NHS = "9434765919"
UPN = "B801200005001"


def child(**changes: Any) -> ChildV1:
    values: dict[str, Any] = {
        "given_name": "Zoë",
        "family_name": "O'Brien",
        "date_of_birth": date(2012, 5, 31),
    }
    values.update(changes)
    return ChildV1(**values)


def record(**changes: Any) -> RollRecord:
    values: dict[str, Any] = {
        "org_code": "100001",
        "record_id": "R1",
        "given_name": "Zoe",
        "family_name": "OBRIEN",
        "date_of_birth": date(2012, 5, 31),
    }
    values.update(changes)
    values["norm_given"] = normalise_name(values["given_name"])
    values["norm_family"] = normalise_name(values["family_name"])
    return RollRecord(**values)


def decide(c: ChildV1, *records: RollRecord) -> list[tuple[str, str, str]]:
    return [(d.decision, d.org_code, d.roll_record_id) for d in match_child(c, records, ON)]


def test_exact_normalised_name_and_birth_date_match() -> None:
    [d] = match_child(child(), [record()], ON)
    assert (d.decision, d.org_code, d.roll_record_id) == ("match", "100001", "R1")
    assert d.explanation["given_name"] == "agree"
    assert d.explanation["nhs_number"] == "missing"
    assert 0 < d.score <= 1


def test_a_different_birth_date_alone_is_no_match() -> None:
    assert decide(child(), record(date_of_birth=date(2012, 5, 30)))[0][0] == "no-match"


def test_nhs_number_matches_despite_a_different_name() -> None:
    c = child(nhs_number=NHS, given_name="Zoey")
    assert decide(c, record(nhs_number=NHS))[0][0] == "match"


def test_upn_matches_despite_a_different_birth_date() -> None:
    c = child(upn=UPN)
    assert decide(c, record(upn=UPN, date_of_birth=date(2012, 6, 1)))[0][0] == "match"


def test_strong_disagreement_on_name_and_birth_date_overrides_the_nhs_number() -> None:
    c = child(nhs_number=NHS)
    r = record(nhs_number=NHS, family_name="Kowalski", date_of_birth=date(2010, 1, 1))
    [d] = match_child(c, [r], ON)
    assert d.decision == "review"
    assert d.explanation["family_name"] == "disagree"
    assert d.explanation["date_of_birth"] == "disagree"


def test_same_name_and_birth_date_but_a_different_nhs_number_is_a_review() -> None:
    assert decide(child(nhs_number=NHS), record(nhs_number="4010232137"))[0][0] == "review"


def test_swapped_given_and_family_names_go_to_review() -> None:
    c = child(given_name="Obrien", family_name="Zoe")
    assert decide(c, record())[0][0] == "review"


def test_a_record_outside_its_validity_is_not_considered() -> None:
    left = record(valid_to=date(2026, 3, 9))
    joins = record(record_id="R2", valid_from=date(2026, 3, 11))
    assert decide(child(), left, joins) == []
    current = record(valid_from=date(2025, 9, 1), valid_to=date(2026, 3, 10))
    assert decide(child(), current)[0][0] == "match"


def test_two_matching_records_in_one_organisation_are_a_review() -> None:
    result = decide(child(), record(), record(record_id="R2"))
    assert result == [("review", "100001", "R1"), ("review", "100001", "R2")]


def test_each_organisation_is_decided_independently() -> None:
    result = decide(child(), record(), record(org_code="A81001", record_id="P9"))
    assert result == [("match", "100001", "R1"), ("match", "A81001", "P9")]


def test_the_same_record_twice_is_one_candidate() -> None:
    assert decide(child(), record(), record()) == [("match", "100001", "R1")]


def test_child_key_prefers_the_nhs_number() -> None:
    assert child_key(child(nhs_number=NHS)) == f"nhs:{NHS}"
    assert child_key(child()) == "name:obrien|zoe|2012-05-31"

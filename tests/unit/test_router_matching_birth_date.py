"""The opt-in rule "birth date wrong at home" (``rules.birth_date_wrong_at_home``): the
child's given and family names as written, at the row's very address, with another
birth date, matched between the review and match thresholds; anything less, a person's."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from services.router.matching import match_child
from services.router.model import BirthDateWrongAtHome, MatchingModel, Rules
from services.router.weights import BASELINE
from tests.unit.test_router_matching_other_given import DEPLOYED, ON, police, row

WRONG_DATE = date(2011, 9, 27)  # nothing in common with 2014-02-03


@pytest.fixture(params=["hand-set", "deployed"])
def base(request: pytest.FixtureRequest) -> MatchingModel:
    return BASELINE if request.param == "hand-set" else DEPLOYED


def with_rule(m: MatchingModel, rule: BirthDateWrongAtHome) -> MatchingModel:
    return replace(m, rules=replace(m.rules, birth_date_wrong_at_home=rule))


def test_a_wrong_birth_date_at_home_is_matched_only_when_the_file_says_match(
    base: MatchingModel,
) -> None:
    # The police mistyped Oliver's birth date; his names and address are as on the roll.
    child = police("Oliver", date_of_birth=WRONG_DATE)
    [held] = match_child(child, [row()], ON, with_rule(base, "review"))
    assert held.decision == "review", "the scores alone leave it to a person"
    assert base.thresholds.review <= held.score < base.thresholds.match
    [matched] = match_child(child, [row()], ON, with_rule(base, "match"))
    assert (matched.decision, matched.explanation["rule"]) == ("match", "date-wrong-at-home")
    assert matched.explanation["date_of_birth"] == "disagree"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"given_name": "Jacob"}, "another given name: a sibling"),
        ({"given_name": "Olivia"}, "a given name one slip away: a sibling's, maybe"),
        ({"family_name": "Harte"}, "the family name not as written"),
        ({"address": "5 Mill Lane, Morpeth"}, "the same postcode, another house"),
        ({"address": None}, "no address on the police record"),
        ({"sex": "F"}, "the sex disagrees"),
    ],
)
def test_anything_less_than_names_and_address_as_written_stays_a_persons(
    base: MatchingModel, change: dict[str, Any], why: str
) -> None:
    child = police(**{"given_name": "Oliver", "date_of_birth": WRONG_DATE, **change})
    rows = [row(sex="male")] if "sex" in change else [row()]
    [d] = match_child(child, rows, ON, with_rule(base, "match"))
    assert d.decision != "match", why


def test_a_namesake_at_the_address_within_the_margin_is_left_to_a_person(
    base: MatchingModel,
) -> None:
    # Two Oliver Harts on the roll at one address (cousins, a children's home): the
    # rule names neither.
    child = police("Oliver", date_of_birth=WRONG_DATE)
    rows = [row(rid="A1"), row(rid="A2", date_of_birth=date(2012, 6, 30))]
    decisions = match_child(child, rows, ON, with_rule(base, "match"))
    assert {d.decision for d in decisions} == {"review"}


def test_the_default_rules_leave_it_to_a_person() -> None:
    assert Rules().birth_date_wrong_at_home == "review"
    assert DEPLOYED.rules.birth_date_wrong_at_home == "match"

"""The opt-in rule "another given name at home" (``rules.other_given_name_at_home``):
matched only with the birth date, family name and home exact and the sex not
disagreeing, and never while the directory holds a twin of the row anywhere."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from schemas.child_identity import LinkBasis
from schemas.episode import ChildV1
from services.router.directory import RollRecord
from services.router.identity import Evidence, PersonRecord, link_child
from services.router.matching import MatchDecision, match_child
from services.router.model import (
    MatchingModel,
    OtherGivenNameAtHome,
    Rules,
    Thresholds,
    read_model,
)
from services.router.names import normalise_name
from services.router.weights import BASELINE

ON = date(2026, 3, 10)
BORN = date(2014, 2, 3)
HOME = {"postcode": "NE61 1AA", "address": "3 Mill Lane, Morpeth"}
SCHOOL, OTHER_SCHOOL, GP = "100001", "100002", "A12345"


DEPLOYED = read_model(Path(__file__).resolve().parents[2] / "deploy" / "matching-model.json")


@pytest.fixture(params=["hand-set", "deployed"])
def base(request: pytest.FixtureRequest) -> MatchingModel:
    return BASELINE if request.param == "hand-set" else DEPLOYED


def with_rule(m: MatchingModel, rule: OtherGivenNameAtHome) -> MatchingModel:
    return replace(m, rules=Rules(other_given_name_at_home=rule))


@pytest.fixture
def matching(base: MatchingModel) -> MatchingModel:
    return with_rule(base, "match")


def police(given: str = "Jacob", **changes: Any) -> ChildV1:
    values: dict[str, Any] = {
        "given_name": given,
        "family_name": "Hart",
        "date_of_birth": BORN,
        **HOME,
        **changes,
    }
    return ChildV1(**values)


def row(given: str = "Oliver", org: str = SCHOOL, rid: str = "A1", **changes: Any) -> RollRecord:
    values: dict[str, Any] = {
        "org_code": org,
        "record_id": rid,
        "given_name": given,
        "family_name": "Hart",
        "date_of_birth": BORN,
        **HOME,
        **changes,
    }
    values["norm_given"] = normalise_name(values["given_name"])
    values["norm_family"] = normalise_name(values["family_name"])
    return RollRecord(**values)


def decided(c: ChildV1, rows: list[RollRecord], m: MatchingModel) -> dict[str, MatchDecision]:
    return {d.roll_record_id: d for d in match_child(c, rows, ON, m)}


def test_another_given_name_at_home_is_matched_only_when_the_file_says_match(
    base: MatchingModel,
) -> None:
    # The police wrote another name for Oliver; his birth date, family name and home agree.
    [matched] = match_child(police(), [row()], ON, with_rule(base, "match"))
    assert (matched.decision, matched.explanation["rule"]) == ("match", "threshold")
    assert matched.explanation["given_name"] == "disagree"
    [held] = match_child(police(), [row()], ON, with_rule(base, "review"))
    assert (held.decision, held.explanation["rule"]) == ("review", "threshold")


def test_the_sex_may_agree_or_be_missing_but_not_disagree(matching: MatchingModel) -> None:
    assert decided(police(sex="M"), [row(sex="male")], matching)["A1"].decision == "match"
    low = replace(matching, thresholds=Thresholds(match=8.0, review=4.0))
    [other_sex] = match_child(police(sex="F"), [row(sex="male")], ON, low)
    assert other_sex.score >= low.thresholds.match
    assert other_sex.decision == "review"  # an opposite-sex twin on no roll


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"date_of_birth": date(2014, 2, 8)}, "one digit of the birth date off"),
        ({"family_name": "Baker"}, "another family name"),
        ({"postcode": "NE61 1AB", "address": "5 Mill Lane, Morpeth"}, "a house down the street"),
        ({"postcode": None, "address": None}, "no home on the police record"),
        ({"given_name": "O"}, "an initial: not another name altogether"),
    ],
)
def test_anything_less_than_birth_date_family_name_and_home_exact_stays_a_review(
    matching: MatchingModel, change: dict[str, Any], why: str
) -> None:
    # Thresholds low enough that the rule, not the score, is what holds each back.
    low = replace(matching, thresholds=Thresholds(match=8.0, review=4.0))
    [d] = match_child(police(**change), [row()], ON, low)
    assert d.score >= low.thresholds.match, why
    assert (d.decision, d.explanation["rule"]) == ("review", "threshold"), why
    [usual] = match_child(police(**change), [row()], ON, matching)
    assert usual.decision != "match", why


def test_a_family_name_misspelt_at_home_is_still_the_child(matching: MatchingModel) -> None:
    # A slip of typing in the family name (FEBRL's commonest second change): the home and
    # birth date still say which household; a twin of the row anywhere still holds it.
    [d] = match_child(police(family_name="Harte"), [row()], ON, matching)
    assert d.explanation["family_name"].startswith("partial:"), d.explanation
    assert (d.decision, d.explanation["rule"]) == ("match", "threshold")
    twins = decided(police(family_name="Harte"), [row(), row("Noah", rid="B1")], matching)
    assert {d.decision for d in twins.values()} == {"review"}


def test_a_twin_on_the_same_roll_sends_it_to_a_person(matching: MatchingModel) -> None:
    # Oliver and his twin Noah at one school; "Jacob" is either of them (or a third).
    out = decided(police(), [row(), row("Noah", rid="B1")], matching)
    assert {(d.decision, d.explanation["rule"]) for d in out.values()} == {("review", "twin")}


def test_a_twin_at_another_school_sends_it_to_a_person(matching: MatchingModel) -> None:
    out = decided(police(), [row(), row("Noah", org=OTHER_SCHOOL, rid="B1")], matching)
    assert (out["A1"].decision, out["A1"].explanation["rule"]) == ("review", "twin")
    assert out["B1"].decision != "match"


def test_the_twin_named_on_a_gp_list_wins_over_the_sibling_under_another_name(
    matching: MatchingModel,
) -> None:
    # Oliver is on a school roll and a GP list; his twin Noah only on the GP list. The
    # police record is Noah's: his GP row matches, none of Oliver's rows does.
    oliver_school = row("Oliver", org=SCHOOL, rid="A-school")
    oliver_gp = row("Oliver", org=GP, rid="A-gp")
    noah_gp = row("Noah", org=GP, rid="B-gp")
    out = decided(police("Noah"), [oliver_school, oliver_gp, noah_gp], matching)
    assert out["B-gp"].decision == "match"
    assert out["A-school"].decision == "review"
    assert out["A-school"].explanation["rule"] == "twin"
    assert out["A-gp"].decision == "no-match"


def test_the_person_index_never_links_on_another_given_name(matching: MatchingModel) -> None:
    # Oliver went missing before; his twin on no roll now does. Earlier episodes hold no
    # twin who never went missing, so the index asks a person whatever the roll rule.
    oliver = police("Oliver")
    earlier = PersonRecord(
        force_code="10",
        episode_ref="E1",
        child_id="A",
        given_name=oliver.given_name,
        family_name=oliver.family_name,
        date_of_birth=oliver.date_of_birth,
        norm_given=normalise_name(oliver.given_name),
        norm_family=normalise_name(oliver.family_name),
        postcode=oliver.postcode,
    )
    decision = link_child(police("Jacob"), "10", Evidence(similar=[earlier]), matching)
    assert (decision.child_id, decision.basis) == (None, LinkBasis.NEW)


def test_a_twin_under_another_name_is_no_rival_of_a_match_on_the_nhs_number(
    matching: MatchingModel,
) -> None:
    # Jacob's NHS number is on his row; his twin Oliver's row has none. The rule would
    # match Oliver's row alone (another given name, date, family and home exact), but the
    # identifier says which twin the police mean (bench matching, 100,000 rows: three
    # such children went to review as "ambiguous").
    nhs = "9434765919"
    rows = [row("Jacob", rid="J1", nhs_number=nhs), row("Oliver", rid="O1")]
    out = decided(police(nhs_number=nhs), rows, matching)
    assert (out["J1"].decision, out["J1"].explanation["rule"]) == ("match", "identifier")
    assert out["O1"].decision == "no-match"

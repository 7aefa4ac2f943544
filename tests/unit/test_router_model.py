"""The matching model file (issue 22): it loads, or names what is wrong, and the router
refuses to start on a file that does not load; the scorer weighs a common name less."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date
from math import log2
from pathlib import Path
from typing import Any

import pytest

from schemas.episode import ChildV1
from services.router.app import create_app
from services.router.directory import RollRecord
from services.router.matching import compare, match_child
from services.router.model import (
    MODEL_VERSION,
    TF_MAX_BOOST,
    MatchingModel,
    ModelFileError,
    Rules,
    TermFrequencies,
    model_from_dict,
    model_to_dict,
    read_model,
    write_model,
)
from services.router.names import normalise_name
from services.router.record_comparison import Comparison
from services.router.settings import RouterSettings
from services.router.weights import BASELINE

DEPLOYED = Path(__file__).resolve().parents[2] / "deploy" / "matching-model.json"
ON = date(2026, 3, 10)


def _record(given: str, family: str, **more: Any) -> RollRecord:
    return RollRecord(
        org_code="100001",
        record_id=more.pop("record_id", "R1"),
        given_name=given,
        family_name=family,
        date_of_birth=more.pop("date_of_birth", date(2014, 2, 3)),
        norm_given=normalise_name(given),
        norm_family=normalise_name(family),
        **more,
    )


def _child(given: str, family: str, **more: Any) -> ChildV1:
    return ChildV1(
        given_name=given,
        family_name=family,
        date_of_birth=more.pop("date_of_birth", date(2014, 2, 3)),
        **more,
    )


def test_a_model_survives_writing_and_reading(tmp_path: Path) -> None:
    model = BASELINE.__class__(
        BASELINE.m_u,
        BASELINE.thresholds,
        term_frequencies={"given_name": TermFrequencies(0.001, {"oliver": 0.02})},
    )
    write_model(model, tmp_path / "m.json")
    again = read_model(tmp_path / "m.json")
    assert again.m_u == model.m_u
    assert again.thresholds == model.thresholds
    assert again.term_frequencies["given_name"].share("oliver") == 0.02


def test_the_rule_for_another_given_name_at_home_is_review_unless_the_file_says_match(
    tmp_path: Path,
) -> None:
    data = model_to_dict(BASELINE)
    assert data["rules"] == {
        "other_given_name_at_home": "review",
        "birth_date_wrong_at_home": "review",
    }
    del data["rules"]
    assert model_from_dict(data).rules == Rules(other_given_name_at_home="review")
    data["rules"] = {}
    assert model_from_dict(data).rules == Rules(other_given_name_at_home="review")
    data["rules"] = {"other_given_name_at_home": "match"}
    model = model_from_dict(data)
    assert model.rules == Rules(other_given_name_at_home="match")
    write_model(model, tmp_path / "m.json")
    assert read_model(tmp_path / "m.json").rules == model.rules
    # Carried with another roll's name tables, as the router weighs names.
    assert model.with_term_frequencies({}).rules == model.rules


def test_the_rule_for_a_birth_date_wrong_at_home_is_review_unless_the_file_says_match() -> None:
    data = model_to_dict(BASELINE)
    del data["rules"]
    assert model_from_dict(data).rules.birth_date_wrong_at_home == "review"
    data["rules"] = {"birth_date_wrong_at_home": "match"}
    assert model_from_dict(data).rules == Rules(birth_date_wrong_at_home="match")
    data["rules"] = {"birth_date_wrong_at_home": "auto"}
    with pytest.raises(ModelFileError, match=r"rules.birth_date_wrong_at_home: 'auto' is not"):
        model_from_dict(data)
    # The deployed model opts in.
    assert read_model(DEPLOYED).rules.birth_date_wrong_at_home == "match"


def test_the_deployed_model_loads() -> None:
    model = read_model(DEPLOYED)
    assert model.thresholds.review <= model.thresholds.match
    assert set(model.term_frequencies) == {"given_name", "family_name"}


def _broken(change: Any) -> dict[str, Any]:
    data = model_to_dict(BASELINE)
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.update(version=MODEL_VERSION + 1), "version 2 is not supported"),
        (lambda d: d.pop("thresholds"), "thresholds: expected an object"),
        (lambda d: d["fields"]["date_of_birth"].pop("typo"), "level 'typo' is missing"),
        (lambda d: d["fields"].pop("postcode"), "fields.postcode: expected an object"),
        (lambda d: d["fields"]["sex"]["agree"].update(m=0), "fields.sex.agree.m: 0.0 is not"),
        (lambda d: d["fields"]["sex"]["agree"].update(u="x"), "expected a number"),
        (lambda d: d["thresholds"].update(review=99), "review is above"),
        (
            lambda d: d.update(rules={"other_given_name_at_home": "always"}),
            "rules.other_given_name_at_home: 'always' is not one of 'review', 'match'",
        ),
        (lambda d: d.update(rules={"other_given_name_at_home": None}), "None is not one of"),
        (lambda d: d.update(rules={"twins": "match"}), "rules.twins: not a rule"),
        (lambda d: d.update(rules="match"), "rules: expected an object"),
    ],
)
def test_a_model_that_does_not_load_names_the_problem(change: Any, reason: str) -> None:
    with pytest.raises(ModelFileError, match=reason):
        model_from_dict(_broken(change))


def test_a_missing_or_unreadable_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"nowhere\.json: cannot be read"):
        read_model(tmp_path / "nowhere.json")
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelFileError, match=r"bad\.json: not JSON"):
        read_model(tmp_path / "bad.json")


@pytest.mark.parametrize("content", [None, "{}", '{"version": 1}', "[1, 2]"])
def test_the_router_refuses_to_start_on_a_model_that_does_not_load(
    tmp_path: Path, content: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "matching-model.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    settings = RouterSettings(matching_model_file=path, var_dir=tmp_path)
    with pytest.raises(ModelFileError, match=r"matching-model\.json"):
        create_app(settings)
    assert "router: refusing to start" in caplog.text


def test_the_router_starts_with_a_model_that_loads(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "m.json"
    write_model(replace(BASELINE, rules=Rules(other_given_name_at_home="match")), path)
    with caplog.at_level(logging.INFO):
        create_app(RouterSettings(matching_model_file=path, var_dir=tmp_path))
    # The engineer on call sees which model and which opt-in rules the router runs with.
    assert (
        f"router: matching model {path}: match 18.0, review 8.0 bits; "
        "other_given_name_at_home=match"
    ) in caplog.text


def test_a_common_name_agreeing_weighs_less_than_a_rare_one() -> None:
    tf = {
        "given_name": TermFrequencies(0.0005, {"oliver": 0.03}),
        "family_name": TermFrequencies(0.0005, {"smith": 0.02}),
    }
    model = BASELINE.__class__(BASELINE.m_u, BASELINE.thresholds, term_frequencies=tf)
    common = compare(_child("Oliver", "Smith"), _record("Oliver", "Smith"), model)
    rare = compare(_child("Ptolemy", "Quennell"), _record("Ptolemy", "Quennell"), model)
    assert common.weights["given_name"] < rare.weights["given_name"]
    assert common.weights["family_name"] < rare.weights["family_name"]
    # Without a table, the level's average weight.
    plain = compare(_child("Oliver", "Smith"), _record("Oliver", "Smith"))
    assert plain.weights["given_name"] == BASELINE.weight("given_name", "exact")


def test_a_likeness_to_a_common_name_weighs_no_more_than_the_name_itself() -> None:
    # Issue 22: a roll where one boy in eleven is a Muhammad and one child in seven a
    # Smith. Muhamad for Muhammad says no more than Muhammad; and Mia for Amelia (on the
    # roll) no more than Amelia written by the police would on Amelia's twin's row.
    tf = {
        "given_name": TermFrequencies(0.0005, {"muhammad": 0.09, "amelia": 0.05}),
        "family_name": TermFrequencies(0.0005, {"smith": 0.14}),
    }
    model = BASELINE.__class__(BASELINE.m_u, BASELINE.thresholds, term_frequencies=tf)
    exact = compare(_child("Muhammad", "Smith"), _record("Muhammad", "Smith"), model)
    slip = compare(_child("Muhamad", "Smiht"), _record("Muhammad", "Smith"), model)
    assert slip.levels["given_name"] != "exact" and slip.levels["family_name"] != "exact"
    # The exact name weighs by its share, not raised to a misspelling's average weight.
    m_exact = BASELINE.m_u["given_name"]["exact"][0]
    assert exact.weights["given_name"] == pytest.approx(log2(m_exact / 0.09))
    assert exact.weights["given_name"] < BASELINE.weight("given_name", "jw")
    assert slip.weights["given_name"] <= exact.weights["given_name"]
    assert slip.weights["family_name"] <= exact.weights["family_name"]
    amelia = compare(_child("Amelia", "Ward"), _record("Amelia", "Ward"), model)
    mia = compare(_child("Amelia", "Ward"), _record("Mia", "Ward"), model)
    assert mia.levels["given_name"] == "nickname"
    assert mia.weights["given_name"] <= amelia.weights["given_name"]
    # A rare name keeps its level's weight: the cap is how common the name is.
    rare = compare(_child("Ptolemyy", "Ward"), _record("Ptolemy", "Ward"), model)
    assert rare.weights["given_name"] == BASELINE.weight("given_name", rare.levels["given_name"])


HOME = {"postcode": "NE61 1AA", "address": "4 Bridge Street, Morpeth"}
ELSEWHERE = {"postcode": "NE1 4XD", "address": "17 Percy Street, Newcastle"}
# A family name a twentieth of a percent of the roll holds: the most the table raises.
RARE_FAMILY = {"family_name": TermFrequencies(0.0005, {"quennell": 0.0005})}


def _sibling_of(family: str, at: dict[str, str], model: MatchingModel) -> Comparison:
    """The police record's child against a sibling's roll row: another given name and
    birth date, the same family name, the roll row at ``at``."""
    child = _child("Ptolemy", family, date_of_birth=date(2014, 2, 3), **HOME)
    sibling = _record("Octavia", family, date_of_birth=date(2016, 7, 9), **at)
    return compare(child, sibling, model)


@pytest.mark.parametrize(
    "home",
    [HOME, {"postcode": HOME["postcode"]}, {"address": HOME["address"]}],
    ids=["postcode-and-address", "postcode", "address"],
)
def test_a_rare_family_name_at_the_child_s_home_weighs_no_more_than_an_average_one(
    home: dict[str, str],
) -> None:
    # Households share family names: a sibling at the child's home agrees on it because
    # of the household, so its rarity is no evidence there (the bench's siblings at
    # home went from 8 bits to 10-11, over the review threshold).
    model = MatchingModel(BASELINE.m_u, BASELINE.thresholds, term_frequencies=RARE_FAMILY)
    rare = _sibling_of("Quennell", home, model)
    average = _sibling_of("Ward", home, model)  # a name the table does not hold
    assert rare.levels["family_name"] == average.levels["family_name"] == "exact"
    assert rare.weights["family_name"] == BASELINE.weight("family_name", "exact")
    assert rare.total <= average.total


def test_a_rare_family_name_away_from_the_child_s_home_keeps_its_weight() -> None:
    model = MatchingModel(BASELINE.m_u, BASELINE.thresholds, term_frequencies=RARE_FAMILY)
    rare = _sibling_of("Quennell", ELSEWHERE, model)
    average = _sibling_of("Ward", ELSEWHERE, model)
    boosted = BASELINE.weight("family_name", "exact") + TF_MAX_BOOST
    assert rare.weights["family_name"] == pytest.approx(boosted)
    assert rare.total == pytest.approx(average.total + TF_MAX_BOOST)


def test_a_fuzzy_likeness_to_another_common_name_is_a_disagreement() -> None:
    tf = {"given_name": TermFrequencies(0.0005, {"ella": 0.01, "eliza": 0.01})}
    model = BASELINE.__class__(BASELINE.m_u, BASELINE.thresholds, term_frequencies=tf)
    # Ella for Eliza: another child's name (a sibling, a twin), not a misspelling.
    assert (
        compare(_child("Ella", "Ward"), _record("Eliza", "Ward"), model).levels["given_name"]
        == "disagree"
    )
    # Elizx for Eliza: no child is called that, a spelling slip.
    assert compare(_child("Elzxa", "Ward"), _record("Eliza", "Ward"), model).levels[
        "given_name"
    ] in ("fuzzy", "edit", "jw")


def test_a_name_mangled_past_a_slip_is_the_roll_name_only_when_nearest_to_it() -> None:
    tf = {"given_name": TermFrequencies(0.0005, {"george": 0.02, "grace": 0.02, "leo": 0.02,
                                                  "ali": 0.01, "oscar": 0.02})}  # fmt: skip
    model = BASELINE.__class__(BASELINE.m_u, BASELINE.thresholds, term_frequencies=tf)

    def level(police: str, roll: str) -> str:
        return compare(_child(police, "Ward"), _record(roll, "Ward"), model).levels["given_name"]

    # Three edits from George, five from any other name: George written badly (issue 22).
    assert level("Gaddrge", "George") == "fuzzy"
    # As near another name as the roll's (La: Leo or Ali), or nearer another (Oscqr on
    # George's row: Oscar's twin mangled): another child's name, as before.
    assert level("La", "Leo") == "disagree"
    assert level("Oscqr", "George") == "disagree"
    # A name the table holds is another child's, however near; and four edits is too far.
    assert level("Grace", "George") == "disagree"
    assert level("Gxxxxe", "George") == "disagree"
    # A rare name on the roll (not in the table) is met the same way.
    assert level("Ptxlmmy", "Ptolemy") == "fuzzy"


def test_a_record_with_its_optional_fields_empty_still_gets_a_decision() -> None:
    model = read_model(DEPLOYED)
    roll = _record("Amelia", "Hart", postcode="LS6 2AB", address="3 Mill Lane", sex="female")
    [d] = match_child(_child("Amelia", "Hart"), [roll], ON, model)
    assert d.decision in ("match", "review")
    assert d.explanation["postcode"] == d.explanation["address"] == "missing"

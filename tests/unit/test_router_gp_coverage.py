"""``rules.other_given_name_at_home: auto`` (services/router/gp_coverage.py): the rule
matches only where the directory's GP lists hold at least 99 % of 1,000 or more school
children; the measure counts distinct school children by exact key, and a roll file's
organisations are told apart by their codes' shapes."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from schemas.messages import OrgKind
from services.router.directory import RollRecord
from services.router.gp_coverage import (
    AUTO_MIN_CHILDREN,
    AUTO_MIN_SHARE,
    GpCoverage,
    for_matching,
    of_records,
    resolve,
    roll_kind,
)
from services.router.matching import match_child
from services.router.model import MatchingModel, Rules, model_from_dict, model_to_dict
from services.router.names import normalise_name
from services.router.weights import BASELINE
from tests.unit.test_router_matching_other_given import ON, police
from tests.unit.test_router_matching_other_given import row as home_row

SCHOOL, OTHER_SCHOOL, GP, OTHER_GP, YOT = "100001", "100002", "A81001", "B82002", "YOT-NLD"
BORN = date(2014, 2, 3)


def row(org: str, rid: str, given: str = "Amy", family: str = "Lee", **changes: Any) -> RollRecord:
    values: dict[str, Any] = {
        "org_code": org,
        "record_id": rid,
        "given_name": given,
        "family_name": family,
        "date_of_birth": BORN,
        **changes,
    }
    values["norm_given"] = normalise_name(values["given_name"])
    values["norm_family"] = normalise_name(values["family_name"])
    return RollRecord(**values)


def auto(model: MatchingModel = BASELINE) -> MatchingModel:
    return replace(model, rules=Rules(other_given_name_at_home="auto"))


def test_the_share_is_of_the_school_children_and_none_is_no_share() -> None:
    assert GpCoverage(2_000, 1_990).share == 0.995
    assert GpCoverage(0, 0).share == 0.0


@pytest.mark.parametrize(
    ("children", "listed", "rule"),
    [
        (1_000, 990, "match"),  # 99 % exactly
        (1_000, 989, "review"),
        (50_000, 49_500, "match"),
        (50_000, 49_499, "review"),
        (AUTO_MIN_CHILDREN, AUTO_MIN_CHILDREN, "match"),
        (AUTO_MIN_CHILDREN - 1, AUTO_MIN_CHILDREN - 1, "review"),  # too few, all listed
        (0, 0, "review"),
    ],
)
def test_auto_matches_from_99_percent_of_1000_school_children(
    children: int, listed: int, rule: str
) -> None:
    assert (AUTO_MIN_SHARE, AUTO_MIN_CHILDREN) == (0.99, 1_000)
    assert resolve("auto", GpCoverage(children, listed)).rule == rule


def test_without_a_measure_auto_reviews_and_the_files_own_choices_stand() -> None:
    assert resolve("auto", None).rule == "review"
    assert "no GP coverage stored yet" in resolve("auto", None).describe()
    for coverage in (None, GpCoverage(0, 0), GpCoverage(10_000, 10_000)):
        assert resolve("match", coverage).rule == "match"
        assert resolve("review", coverage).rule == "review"


def test_describe_gives_counts_and_never_rounds_up_to_the_threshold() -> None:
    assert resolve("auto", GpCoverage(18_012, 17_850)).describe() == (
        "GP lists hold 99.1 % of 18,012 school children: match"
    )
    assert resolve("auto", GpCoverage(10_000, 9_896)).describe() == (
        "GP lists hold 98.9 % of 10,000 school children, fewer than 99 %: review"
    )
    assert resolve("auto", GpCoverage(412, 412)).describe() == (
        "GP lists hold 100.0 % of 412 school children, too few to judge (fewer than 1,000): review"
    )


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("140001", OrgKind.SCHOOL),
        ("A81001", OrgKind.GP_PRACTICE),
        ("a81001", OrgKind.GP_PRACTICE),
        ("14000", None),
        ("1400011", None),
        ("A8100", None),
        ("AB1234", None),
        ("81001A", None),
        ("YOT-NLD", None),
        ("E06000057", None),
    ],
)
def test_a_roll_files_organisations_are_told_apart_by_their_codes(
    code: str, kind: OrgKind | None
) -> None:
    assert roll_kind(code) == kind


def test_a_roll_file_counts_each_school_child_once_and_only_exact_keys_on_a_gp_list() -> None:
    later = BORN + timedelta(days=1)
    records = [
        # Amy Lee: on two school rolls (one child), and on a GP list as "Amy Rose".
        row(SCHOOL, "S1"),
        row(OTHER_SCHOOL, "S2"),
        row(GP, "G1", given="Amy Rose"),
        # Ben Lee: on a GP list with another birth date: not the same key.
        row(SCHOOL, "S3", given="Ben"),
        row(GP, "G2", given="Ben", date_of_birth=later),
        # Cat Lee: on a GP list with her family name misspelt: counted as on no list.
        row(SCHOOL, "S4", given="Cat"),
        row(OTHER_GP, "G3", given="Cat", family="Lea"),
        # Dan Lee: on a GP list only; Eve Lee: on the YOT caseload only.
        row(GP, "G4", given="Dan"),
        row(YOT, "Y1", given="Eve"),
        # Fay Lee: school and GP, the GP row in other case and spacing.
        row(SCHOOL, "S5", given="Fay"),
        row(OTHER_GP, "G5", given=" FAY ", family="LEE"),
    ]
    assert of_records(records) == GpCoverage(school_children=4, on_gp_list=2)
    assert of_records([]) == GpCoverage(0, 0)


def test_a_model_file_may_say_auto_and_the_router_resolves_it() -> None:
    data = model_to_dict(BASELINE)
    data["rules"] = {"other_given_name_at_home": "auto"}
    loaded = model_from_dict(data)
    assert loaded.rules.other_given_name_at_home == "auto"
    assert model_to_dict(loaded)["rules"] == {
        "other_given_name_at_home": "auto",
        "birth_date_wrong_at_home": "review",
    }
    matched, resolution = for_matching(loaded, GpCoverage(2_000, 1_990))
    assert (matched.rules.other_given_name_at_home, resolution.rule) == ("match", "match")
    reviewed, _ = for_matching(loaded, GpCoverage(2_000, 1_900))
    assert reviewed.rules.other_given_name_at_home == "review"
    assert for_matching(BASELINE, None)[0] is BASELINE  # nothing to resolve


def test_auto_left_unresolved_acts_as_review() -> None:
    # The police wrote another name for Oliver, at his home, his birth date exact.
    [held] = match_child(police(), [home_row()], ON, auto())
    assert held.decision == "review"
    resolved, _ = for_matching(auto(), GpCoverage(2_000, 2_000))
    [matched] = match_child(police(), [home_row()], ON, resolved)
    assert matched.decision == "match"

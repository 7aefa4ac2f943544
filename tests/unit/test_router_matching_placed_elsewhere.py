"""A match on a row without a place (a GP list's row with neither postcode nor address)
is in doubt while the same child's row on another roll places it away from the police
record's home: held-out seed 3 with GP lists matched Mia Smith's placeless GP row for a
police record of Amelia Srnith, born the same day a town away."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from schemas.episode import ChildV1
from services.router.directory import RollRecord
from services.router.matching import MatchDecision, match_child
from services.router.model import MatchingModel, read_model
from services.router.names import normalise_name

ON = date(2026, 3, 10)
BORN = date(2019, 5, 17)
DEPLOYED = read_model(Path(__file__).resolve().parents[2] / "deploy" / "matching-model.json")


def police() -> ChildV1:
    return ChildV1(
        given_name="Amelia",
        family_name="Srnith",
        date_of_birth=BORN,
        sex="F",
        postcode="LS6 2HD",
        address="91 Orchard Rise, Leeds",
    )


def row(org: str, **changes: Any) -> RollRecord:
    values: dict[str, Any] = {
        "org_code": org,
        "record_id": "R3-0000588",
        "given_name": "Mia",
        "family_name": "Smith",
        "date_of_birth": BORN,
        "sex": "female",
        "postcode": "BD3 3EE",
        "address": "92 Orchard Rise, Bradford",
        **changes,
    }
    values["norm_given"] = normalise_name(values["given_name"])
    values["norm_family"] = normalise_name(values["family_name"])
    return RollRecord(**values)


SCHOOL_ROW = row("140008")
GP_ROW = row("A81004", postcode=None, address=None)


def by_org(rows: list[RollRecord], model: MatchingModel) -> dict[str, MatchDecision]:
    return {d.org_code: d for d in match_child(police(), rows, ON, model)}


def test_a_placeless_row_is_in_doubt_when_the_childs_other_row_is_elsewhere() -> None:
    # Alone, the placeless row weighs no place against the match: it matches.
    assert by_org([GP_ROW], DEPLOYED)["A81004"].decision == "match"
    both = by_org([SCHOOL_ROW, GP_ROW], DEPLOYED)
    assert (both["A81004"].decision, both["A81004"].explanation["rule"]) == (
        "review",
        "elsewhere",
    )
    assert both["140008"].decision != "match"


def test_a_row_of_the_child_at_the_police_records_home_leaves_the_match() -> None:
    home = row("140008", postcode="LS6 2HD", address="91 Orchard Rise, Leeds")
    assert by_org([home, GP_ROW], DEPLOYED)["A81004"].decision == "match"


def test_a_namesake_with_another_birth_date_does_not_hold_it_back() -> None:
    other = row("140008", date_of_birth=date(2018, 5, 17))
    assert by_org([other, GP_ROW], DEPLOYED)["A81004"].decision == "match"

"""One police record against one roll record (pure): a level and a match weight per
field (:mod:`services.router.comparisons` compares, the model weighs), for
:mod:`services.router.matching` to decide on."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from schemas.episode import ChildV1
from services.router.comparisons import (
    AGREEMENT,
    compare_address,
    compare_dob,
    compare_family,
    compare_given,
    compare_identifier,
    compare_postcode,
    compare_sex,
    same_home,
)
from services.router.directory import RollRecord
from services.router.model import MatchingModel
from services.router.names import normalise_name
from services.router.weights import BASELINE

_DEMOGRAPHIC = ("given_name", "family_name", "date_of_birth")


@dataclass(frozen=True)
class Comparison:
    """One police record against one roll record: a level and weight per field."""

    record: RollRecord
    levels: dict[str, str]
    weights: dict[str, float]
    swapped: bool
    # The police record's first given name as compared (normalised; the family name
    # when the names were swapped): what tells twins apart (services/router/matching.py).
    written_given: str = ""

    @property
    def total(self) -> float:
        return sum(self.weights.values())

    @property
    def demographic(self) -> float:
        return sum(self.weights[f] for f in _DEMOGRAPHIC)

    def explain(self, rule: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, level in self.levels.items():
            agreement = AGREEMENT[level]
            if agreement in ("agree", "partial"):
                prefix = (
                    "swapped-" if self.swapped and name in ("given_name", "family_name") else ""
                )
                out[name] = f"{agreement}:{prefix}{level}"
            else:
                out[name] = agreement
        out["rule"] = rule
        return out


@lru_cache(maxsize=65_536)
def _names(given: str, family: str) -> tuple[str, str]:
    return normalise_name(given), normalise_name(family)


def _first(name: str) -> str:
    return name.split(" ", 1)[0]


# A given name mangled this far (edits) can still be read as the roll's, when no other
# name is as near: another child's name (a twin's) mangled as far would be nearer its own.
MANGLED_EDITS = 3


def _written_from(model: MatchingModel, spelling: str, roll_name: str) -> bool:
    return len(spelling) >= 2 and model.nearest_is("given_name", spelling, roll_name, MANGLED_EDITS)


def compare(child: ChildV1, record: RollRecord, model: MatchingModel = BASELINE) -> Comparison:
    """Every field of ``child`` against ``record`` (given and family names also crosswise,
    for police records that swapped them), weighed by ``model``."""
    postcode = compare_postcode(child.postcode, record.postcode)
    address = compare_address(child.address, record.address)
    home = same_home(postcode, address)

    def weight(
        field_name: str, level: str, name: str | None = None, written: str | None = None
    ) -> float:
        return model.weight(field_name, level, name, written, at_home=home)

    given, family = _names(child.given_name, child.family_name)
    g, f = compare_given(given, record.norm_given), compare_family(family, record.norm_family)
    # A "fuzzy" likeness to a name other children hold (Ella for Eliza) is another name.
    if g == "fuzzy" and model.known_name("given_name", _first(given)):
        g = "disagree"
    if f == "fuzzy" and model.known_name("family_name", family):
        f = "disagree"
    if g == "disagree" and _written_from(model, _first(given), _first(record.norm_given)):
        g = "fuzzy"
    roll_given, roll_family = _first(record.norm_given), record.norm_family
    written = (_first(given), family)
    names = weight("given_name", g, roll_given, written[0]) + weight(
        "family_name", f, roll_family, written[1]
    )
    swapped = False
    if "disagree" in (g, f):
        sg = compare_given(family, record.norm_given)
        sf = compare_family(given, record.norm_family)
        crossed = (
            weight("given_name", sg, roll_given, _first(family))
            + weight("family_name", sf, roll_family, given)
            - model.swap_penalty
        )
        if "disagree" not in (sg, sf) and crossed > names:
            g, f, swapped = sg, sf, True
            written = (_first(family), given)
    levels = {
        "nhs_number": compare_identifier(child.nhs_number, record.nhs_number),
        "upn": compare_identifier(child.upn, record.upn),
        "given_name": g,
        "family_name": f,
        "date_of_birth": compare_dob(child.date_of_birth, record.date_of_birth),
        "postcode": postcode,
        "address": address,
        "sex": compare_sex(child.sex, record.sex),
    }
    weights = {name: weight(name, level) for name, level in levels.items()}
    # How common the name is: two Olivers agree by chance more often than two Saoirses
    # (not the family name at the child's home, where a household shares it).
    weights["given_name"] = weight("given_name", g, roll_given, written[0])
    weights["family_name"] = weight("family_name", f, roll_family, written[1])
    if swapped:
        weights["family_name"] -= model.swap_penalty
    if weights["postcode"] > 0 and weights["address"] > 0:
        # One household, one piece of evidence: an agreeing address says little more
        # than the agreeing postcode (and siblings share both).
        weights["address"] = max(weights["address"] - weights["postcode"], 0.0)
    elif weights["postcode"] < 0 and weights["address"] < 0:
        # The same the other way: a family that moved changes both at once.
        weights["address"] = min(weights["address"] - weights["postcode"], 0.0)
    return Comparison(record, levels, weights, swapped, written[0])

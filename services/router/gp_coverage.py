"""How completely the directory's GP lists hold its school children, and what the
model file's ``rules.other_given_name_at_home: auto`` becomes with that (pure, no I/O).

The opt-in rule "another given name at home" (``match``) risks one thing: the child's
twin on no roll or list at all, whom nothing in the directory can show. A twin on a
GP list sends the record to review (services/router/matching.py), so the rule is as
safe as the GP lists are complete. Measured on held-out sets (README, "An opt-in rule"):
GP lists holding 99 % of children, every target met with no wrong twin; 97 %, one
wrong twin per 4,000 records; no GP lists, 12 to 14. So ``auto`` is ``match`` when the
lists hold at least :data:`AUTO_MIN_SHARE` of the school children, and ``review``
below it or on a directory of fewer than :data:`AUTO_MIN_CHILDREN` school children
(too few to tell 99 % from 97 %).

The measure (:class:`GpCoverage`): of the distinct children on school rolls, keyed by
normalised family name, first normalised given name and date of birth
(:func:`child_key`), how many have a row of the same key on some GP practice's list.
Every row counts, whatever its ``from``/``to`` dates. The key must agree exactly, so a
child whose GP row differs from the school row by one letter or a mistyped date counts
as on no list: the share errs low, and ``auto`` errs towards ``review``, the safe side.

The router measures its stored roll in SQL at each roll import, by the organisations'
kinds (services/router/gp_coverage_store.py); a roll file has no kinds, so its rows are
told apart by code shape (:func:`roll_kind`), the shapes the directory requires of a
school's and a GP practice's code: ``relay matching evaluate``, ``misses``, ``train``
and ``relay link`` then resolve ``auto`` as the router would with that roll imported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from math import floor
from typing import Literal

from schemas.messages import OrgKind
from services.router.directory import RollRecord, organisation_code_problem
from services.router.model import MatchingModel, OtherGivenNameAtHome
from services.router.name_frequencies import first_given

# The least share of school children on a GP list at which ``auto`` matches (above).
AUTO_MIN_SHARE = 0.99
# Fewer school children than this: too few to judge, ``auto`` reviews.
AUTO_MIN_CHILDREN = 1_000

Effective = Literal["review", "match"]
ChildKey = tuple[str, str, date]


@dataclass(frozen=True)
class GpCoverage:
    """Of ``school_children`` distinct children on school rolls, ``on_gp_list`` have a
    row with the same key on a GP practice's list."""

    school_children: int
    on_gp_list: int

    @property
    def share(self) -> float:
        return self.on_gp_list / self.school_children if self.school_children else 0.0

    def percent(self) -> str:
        """The share as a percentage rounded down: 98.96 % must not read as the 99 %
        it falls short of."""
        return f"{floor(self.share * 1000) / 10:.1f} %"

    def describe(self) -> str:
        return f"GP lists hold {self.percent()} of {self.school_children:,} school children"


def child_key(record: RollRecord) -> ChildKey:
    return record.norm_family, first_given(record.norm_given), record.date_of_birth


def roll_kind(org_code: str) -> OrgKind | None:
    """A roll file's organisation by its code's shape: a 6-digit URN is a school's, an
    ODS code (a letter and 5 digits) a GP practice's; None for any other."""
    for kind in (OrgKind.SCHOOL, OrgKind.GP_PRACTICE):
        if organisation_code_problem(kind, org_code.strip().upper()) is None:
            return kind
    return None


def of_records(records: Iterable[RollRecord]) -> GpCoverage:
    """The coverage of a roll held in memory (a roll file), by code shape."""
    school: set[ChildKey] = set()
    gp: set[ChildKey] = set()
    for record in records:
        kind = roll_kind(record.org_code)
        if kind is OrgKind.SCHOOL:
            school.add(child_key(record))
        elif kind is OrgKind.GP_PRACTICE:
            gp.add(child_key(record))
    return GpCoverage(len(school), len(school & gp))


@dataclass(frozen=True)
class Resolution:
    """What the model file's rule (``configured``) is with the directory's coverage."""

    configured: OtherGivenNameAtHome
    rule: Effective
    why: str

    def describe(self) -> str:
        return f"{self.why}: {self.rule}"


def resolve(configured: OtherGivenNameAtHome, coverage: GpCoverage | None) -> Resolution:
    """``review`` and ``match`` stand as the file says; ``auto`` is ``match`` only when
    ``coverage`` counts :data:`AUTO_MIN_CHILDREN` school children or more and at least
    :data:`AUTO_MIN_SHARE` of them on a GP list (None: nothing measured yet: review)."""
    if configured != "auto":
        return Resolution(configured, configured, "as the model file says")
    if coverage is None:
        return Resolution(
            configured, "review", "no GP coverage stored yet (the next roll import measures it)"
        )
    seen = coverage.describe()
    if coverage.school_children < AUTO_MIN_CHILDREN:
        return Resolution(
            configured, "review", f"{seen}, too few to judge (fewer than {AUTO_MIN_CHILDREN:,})"
        )
    if coverage.share < AUTO_MIN_SHARE:
        return Resolution(configured, "review", f"{seen}, fewer than {AUTO_MIN_SHARE * 100:g} %")
    return Resolution(configured, "match", seen)


def for_matching(
    model: MatchingModel, coverage: GpCoverage | None
) -> tuple[MatchingModel, Resolution]:
    """``model`` with its rule resolved (:func:`resolve`), and the resolution."""
    resolution = resolve(model.rules.other_given_name_at_home, coverage)
    if resolution.rule == model.rules.other_given_name_at_home:
        return model, resolution
    rules = replace(model.rules, other_given_name_at_home=resolution.rule)
    return replace(model, rules=rules), resolution


__all__ = [
    "AUTO_MIN_CHILDREN",
    "AUTO_MIN_SHARE",
    "ChildKey",
    "Effective",
    "GpCoverage",
    "Resolution",
    "child_key",
    "for_matching",
    "of_records",
    "resolve",
    "roll_kind",
]

"""One candidate roll record on its own (pure): the identifier rules, then the
thresholds, and the patterns that fit another child as well as this one, which go to a
person (:mod:`services.router.matching` then decides between a roll's candidates).
"""

from __future__ import annotations

from typing import Literal

from services.router.comparisons import AGREEMENT, MISSING, same_home
from services.router.model import MatchingModel, Rules
from services.router.record_comparison import Comparison

Decision = Literal["match", "review", "no-match"]

# An agreeing NHS number or UPN is overridden when names and date of birth together weigh
# below this (both strongly disagree: a mistyped or borrowed identifier).
IDENTIFIER_CONFLICT = 0.0
# A disagreeing NHS number or UPN with names and date of birth weighing at least this
# (all agree) is two children or a typo: a person decides.
STRONG_DEMOGRAPHICS = 15.0
# A given name recognisably the child's own (a nickname), and slips of typing.
_MISSPELT = ("nickname",)
_TYPED = ("jw", "edit", "phonetic")
# Without an agreeing identifier, a match needs given name and birth date at least to
# partly agree.
# A short form of several names (Harry) fits the child's twin at another school as well.
_NOT_FOR_MATCH = ("disagree", "year", "initial", "shared_nickname")


def decide_candidate(c: Comparison, model: MatchingModel) -> tuple[Decision, str]:
    """One candidate on its own: the identifier rules, then the thresholds."""
    ids = (c.levels["nhs_number"], c.levels["upn"])
    total = c.total
    match_threshold, review_threshold = model.thresholds.match, model.thresholds.review
    if "agree" in ids and "disagree" in ids:
        return "review", "identifier-conflict"  # NHS number agrees, UPN does not (or reverse)
    if "agree" in ids:
        names_disagree = c.levels["given_name"] == c.levels["family_name"] == "disagree"
        if c.demographic < IDENTIFIER_CONFLICT or names_disagree:
            return "review", "identifier-conflict"
        return "match", "identifier"
    if "disagree" in ids:
        # A checked identifier that differs is never auto-matched past.
        if c.demographic >= STRONG_DEMOGRAPHICS or total >= review_threshold:
            return "review", "identifier-conflict"
        return "no-match", "threshold"
    if total >= match_threshold:
        return ("review", "threshold") if _doubtful(c, model.rules) else ("match", "threshold")
    if total >= review_threshold and _birth_date_wrong_at_home(c, model.rules):
        return "match", "date-wrong-at-home"
    if total >= review_threshold and not _uncorroborated_other_family(c):
        return "review", "threshold"
    return "no-match", "threshold"


def _doubtful(c: Comparison, rules: Rules) -> bool:
    """Above the match threshold, yet a pattern that fits another child as well: a
    person decides."""
    given, born = c.levels["given_name"], c.levels["date_of_birth"]
    family = c.levels["family_name"]
    if given in _NOT_FOR_MATCH and not _other_given_name_at_home(c, rules):
        # Another given name at the same place and family: a twin at another school or
        # on no roll, an off-roll sibling, or a changed name. Never automatic, unless the
        # model file opts in to the one pattern below.
        return True
    if born in _NOT_FOR_MATCH:
        # Another birth date: a sibling, unless the same given and family names at the
        # same home say it is the child with the date mistyped (siblings never share a
        # first name).
        return not (given == family == "exact" and born == "year" and _same_home(c))
    if AGREEMENT[given] == "partial" and AGREEMENT[born] == "partial":
        # A given name mangled past a misspelling with a wrong birth date fits a sibling
        # with a similar name as well as the child. One slip in each does not: a twin
        # shares the date exactly, and a sibling born one digit away (the same day of
        # another year) with a name one letter away is rare; a name cut short or
        # scanned badly is the child's when the family name and the place agree too.
        if given in _MISSPELT or (born == "typo" and given in _TYPED):
            pass
        elif not (born == "typo" and given == "fuzzy" and family == "exact" and _same_place(c)):
            return True
    # A misspelt family name and a wrong birth date with nothing to place the child fit
    # any namesake born near that day (Muhammad Smith, 2010 or 2020).
    return AGREEMENT[family] == "partial" and AGREEMENT[born] == "partial" and not _same_place(c)


def _other_given_name_at_home(c: Comparison, rules: Rules) -> bool:
    """Opt-in (``rules.other_given_name_at_home: match``): another given name altogether
    with the birth date exact, the family name exact or one slip of typing or sound
    away, at the row's home, and the sex not disagreeing, is the child under another
    name (the commonest miss on FEBRL and our sets). It is also exactly the child's twin
    on no roll; a twin of the row anywhere in the directory still sends it to a person
    (:mod:`services.router.matching`), one on no list cannot. Only ``disagree``: a given
    name swapped with the family name, cut to an initial or a nickname of several names
    stays a person's."""
    return (
        rules.other_given_name_at_home == "match"
        and c.levels["given_name"] == "disagree"
        and not c.swapped
        and c.levels["date_of_birth"] == "exact"
        and c.levels["family_name"] in _FAMILY_AT_HOME
        and c.levels["sex"] != "disagree"
        and _same_home(c)
    )


def _birth_date_wrong_at_home(c: Comparison, rules: Rules) -> bool:
    """Opt-in (``rules.birth_date_wrong_at_home: match``): the given and family names as
    written, at the row's very address (the postcode not disagreeing), the sex not
    disagreeing, and the birth date any other: the child with the date mistyped, above
    the review threshold though below the match one. Siblings never share a first name,
    and a twin shares the date; a namesake in the same postcode, but not at the same
    address, stays a person's. Roll-level rules still apply (a rival within the
    ambiguity margin, or a better candidate sent to review, leaves it to a person)."""
    return (
        rules.birth_date_wrong_at_home == "match"
        and c.levels["given_name"] == c.levels["family_name"] == "exact"
        and not c.swapped
        and c.levels["date_of_birth"] != "exact"
        and c.levels["date_of_birth"] != MISSING
        and c.levels["sex"] != "disagree"
        and c.levels["address"] == "same"
        and c.levels["postcode"] != "disagree"
    )


# The family name of the household: as written, or one slip away (not a part of a
# double-barrelled name, nor mangled further: another family's as well).
_FAMILY_AT_HOME = ("exact", "jw", "edit", "phonetic")


def _same_home(c: Comparison) -> bool:
    return same_home(c.levels["postcode"], c.levels["address"])


# Levels that say "same place" or "same identifier" (a postcode area or district is
# shared by thousands of children; a sector or unit is a street or two).
_CORROBORATING = {
    "postcode": {"unit", "sector"},
    "address": {"same", "similar"},
    "nhs_number": {"agree"},
    "upn": {"agree"},
}


def _same_place(c: Comparison) -> bool:
    return any(c.levels[f] in _CORROBORATING[f] for f in ("postcode", "address"))


def _uncorroborated_other_family(c: Comparison) -> bool:
    """Another family name, and nothing but the given name and birth date in common:
    at national scale that is usually another child of that name and birthday, not the
    same child renamed. A changed name is worth a person's look only when the place
    (postcode, address) or an identifier agrees too."""
    return (
        c.levels["family_name"] == "disagree"
        and not c.swapped
        and not any(c.levels[f] in levels for f, levels in _CORROBORATING.items())
    )

"""Who is this child on each organisation's roll? (DESIGN §6; pure.)

:func:`match_child` is the one entry point. For each candidate roll record (found by
blocking, :mod:`services.router.blocking`) it compares every field
(:mod:`services.router.record_comparison`), sums Fellegi-Sunter match weights
(:mod:`services.router.weights`) and decides against two thresholds; then identifier
rules, twins and ambiguity within one organisation can only lower a decision to
``review``. Precision comes first: a wrong match discloses a child to the wrong school,
so anything uncertain is a ``review`` for a person to decide.

A decision's ``score`` is the summed match weight in bits (log2 of the likelihood
ratio: +10 means the agreement pattern is about a thousand times likelier for the same
child than for a different candidate). Its ``explanation`` maps each field to
``agree:<level>``, ``partial:<level>``, ``disagree`` or ``missing``, and ``rule`` to
what decided (``threshold``, ``identifier``, ``identifier-conflict``, ``twin``,
``ambiguous``: another record of the organisation fits about as well, or another child
on another roll better; ``outranked``: another record of the organisation is the match;
``conflict``: the record matched on another roll is plainly another child;
``elsewhere``: the row holds no place, and the same child's row on another roll places
it away from the police record's).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from rapidfuzz.distance import OSA

from schemas.episode import ChildV1
from services.router.candidate_rules import (
    _NOT_FOR_MATCH,
    IDENTIFIER_CONFLICT,
    STRONG_DEMOGRAPHICS,
    Decision,
    decide_candidate,
)
from services.router.comparisons import phonetic_code
from services.router.directory import RollRecord
from services.router.model import MatchingModel
from services.router.record_comparison import Comparison, compare
from services.router.weights import BASELINE

# The hand-set model's thresholds (weights.BASELINE; a trained model carries its own, in
# deploy/matching-model.json). Thresholds on the summed weight (bits), tuned on generated
# data for precision first (tests/unit/test_router_matching_quality.py). The prior odds
# that a given roll row is the child are about 1 in the roll's size (2^-10 for a school,
# 2^-14 for a large GP list), so MATCH asks for about 2^18: names and date of birth
# agreeing exactly (+24.5) match; a misspelt name with a mistyped birth date needs the
# postcode as well.
MATCH_THRESHOLD = 18.0
REVIEW_THRESHOLD = 8.0
# Within one organisation, a runner-up this close to the best (and above REVIEW) makes
# the best ambiguous.
AMBIGUITY_MARGIN = 5.0

# Given-name levels that tell twins apart, when the twin's own name disagrees: a
# misspelling of one twin's name (or the name cut short or mangled further, ``fuzzy``)
# that is nothing like the other's.
_GIVEN_FOR_TWINS = ("exact", "nickname", "jw", "edit", "fuzzy")
# How many edits further from the twin's name than from the best's a mangled (``fuzzy``)
# spelling must be to tell twins apart (:func:`_told_apart`).
_TWIN_EDITS_APART = 2


@dataclass(frozen=True)
class MatchDecision:
    decision: Decision
    org_code: str
    roll_record_id: str
    score: float
    explanation: dict[str, str] = field(default_factory=dict)
    # The roll record decided on: a reviewer sees it beside the police record.
    record: RollRecord | None = field(default=None, compare=False, repr=False)


def _is_twin(best: RollRecord, other: RollRecord) -> bool:
    """Same family name and date of birth, a different given name: twins (or triplets)
    on one roll. Address is not required: a roll without one must not hide a twin."""
    return (
        other.date_of_birth == best.date_of_birth
        and (
            other.norm_family == best.norm_family
            or phonetic_code(other.norm_family) == phonetic_code(best.norm_family)
        )
        and other.norm_given.split(" ", 1)[:1] != best.norm_given.split(" ", 1)[:1]
    )


def _told_apart(best: Comparison, twin: Comparison) -> bool:
    """Whether the police record's given name tells ``best``'s child from ``twin``: the
    twin's name is nothing like it (``disagree``); and where the best's is only a mangled
    likeness (``fuzzy``), the spelling starts the best's name and not the twin's (Isab:
    Isabella, not Ivy), or is at least two edits further from the twin's than from the
    best's. Evy reads as Ivy, one letter away, but Evie is only two: held-out seed 6 with
    GP lists matched Ivy for her twin Evie."""
    if twin.levels["given_name"] != "disagree":
        return False
    if best.levels["given_name"] != "fuzzy":
        return True
    spelling = best.written_given
    ours, theirs = (c.record.norm_given.split(" ", 1)[0] for c in (best, twin))
    if ours.startswith(spelling) or theirs.startswith(spelling):
        return not theirs.startswith(spelling)
    return OSA.distance(spelling, theirs) - OSA.distance(spelling, ours) >= _TWIN_EDITS_APART


def _decide_organisation(
    comparisons: list[Comparison], model: MatchingModel
) -> list[MatchDecision]:
    ranked = sorted(comparisons, key=lambda c: (-c.total, c.record.record_id))
    decided = [(c, *decide_candidate(c, model)) for c in ranked]
    best, best_decision, best_rule = decided[0]
    lowered: dict[int, str] = {}  # index in ranked -> rule that lowered it to review
    told_apart: set[int] = set()  # twins the given name tells from the best
    if best_decision == "match" and best_rule != "identifier":
        # Twins share everything but the given name (and their NHS numbers, so an
        # agreeing identifier already tells them apart).
        twins = [i for i, (c, _, _) in enumerate(decided[1:], 1) if _is_twin(best.record, c.record)]
        given_ok = not best.swapped and best.levels["given_name"] in _GIVEN_FOR_TWINS
        if twins and not (given_ok and all(_told_apart(best, decided[i][0]) for i in twins)):
            lowered.update({0: "twin", **{i: "twin" for i in twins}})
        elif twins:
            told_apart.update(twins)
    elif best_decision == "match":
        # Matched on an agreeing NHS number or UPN: a twin under another given name is
        # not the child, whatever the opt-in rule makes of it alone.
        told_apart.update(
            i
            for i, (c, _, _) in enumerate(decided[1:], 1)
            if _is_twin(best.record, c.record) and c.levels["given_name"] == "disagree"
        )
    if best_decision == "match":
        rivals = [
            i
            for i, (c, decision, _) in enumerate(decided[1:], 1)
            # A twin told apart is a match on its own only by "another given name at
            # home" (opt-in): the police record holds the best's name, not another.
            if (decision == "match" and i not in told_apart)
            or "agree" in (c.levels["nhs_number"], c.levels["upn"])
            or (
                (decision == "review" or c.total >= model.thresholds.review)
                and best.total - c.total < model.thresholds.ambiguity_margin
            )
        ]
        if rivals:
            lowered.setdefault(0, "ambiguous")
            for i in rivals:
                lowered.setdefault(i, "ambiguous")
    # An organisation either has one match and the rest no-match, or no match: a review
    # left beside a match would hold back an organisation that is already told.
    outranked = 0 not in lowered and best_decision == "match"
    out = []
    for i, (c, decision, rule) in enumerate(decided):
        if i in lowered:
            decision, rule = "review", lowered[i]
        elif outranked and i > 0:
            decision, rule = "no-match", "outranked"
        elif i > 0 and decision == "match":
            # The best is not a match (an identifier conflict) yet a lesser one is: who
            # the child is on this roll is unclear.
            decision, rule = "review", "ambiguous"
        out.append(
            MatchDecision(
                decision,
                c.record.org_code,
                c.record.record_id,
                round(c.total, 2),
                c.explain(rule),
                c.record,
            )
        )
    return sorted(out, key=lambda d: d.roll_record_id)


def decide_among(
    comparisons: list[Comparison], model: MatchingModel = BASELINE
) -> list[MatchDecision]:
    """Decide between the candidates of one set (one roll; or the earlier children of the
    person index, services/router/identity.py) as :func:`match_child` does within one
    organisation: at most one ``match``, twins and close runners-up lowered to ``review``."""
    return _decide_organisation(comparisons, model) if comparisons else []


def match_child(
    child: ChildV1,
    candidates: Sequence[RollRecord],
    on: date,
    model: MatchingModel = BASELINE,
) -> list[MatchDecision]:
    """Decide, for every candidate roll record on roll on ``on``, whether it is ``child``.

    Returns one decision per distinct candidate, grouped by organisation (sorted by
    organisation code, then record id). Per organisation at most one record is a
    ``match``: a close runner-up, a second match or a twin on the same roll turns them
    into ``review``.
    """
    return decide_compared(compare_candidates(child, candidates, on, model), model)


def compare_candidates(
    child: ChildV1, candidates: Sequence[RollRecord], on: date, model: MatchingModel = BASELINE
) -> dict[str, list[Comparison]]:
    """Every distinct candidate on roll on ``on`` compared with ``child``, by organisation
    (the first half of :func:`match_child`; threshold tuning decides these many times)."""
    by_org: dict[str, list[Comparison]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    compared: dict[tuple[object, ...], Comparison] = {}
    for record in candidates:
        key = (record.org_code, record.record_id)
        if key in seen or not record.on_roll(on):
            continue
        seen.add(key)
        content = _compared_content(child, record)
        earlier = compared.get(content)
        if earlier is None:
            comparison = compared[content] = compare(child, record, model)
        else:
            comparison = replace(earlier, record=record)
        by_org[record.org_code].append(comparison)
    return by_org


def _compared_content(child: ChildV1, record: RollRecord) -> tuple[object, ...]:
    """Everything of ``record`` that :func:`compare` reads. A child's school and GP rows
    mostly hold the same, and are compared once (issue 22: 40% of the comparisons at
    1,000,000 roll rows). An identifier counts only when the police record has one: it
    is missing either way otherwise."""
    return (
        record.given_name,
        record.family_name,
        record.norm_given,
        record.norm_family,
        record.date_of_birth,
        record.postcode,
        record.address,
        record.sex,
        record.nhs_number if child.nhs_number else None,
        record.upn if child.upn else None,
    )


def decide_compared(
    by_org: dict[str, list[Comparison]], model: MatchingModel = BASELINE
) -> list[MatchDecision]:
    """The second half of :func:`match_child`: decisions at ``model``'s thresholds."""
    decisions: list[MatchDecision] = []
    for org_code in sorted(by_org):
        decisions.extend(_decide_organisation(by_org[org_code], model))
    records = {
        (c.record.org_code, c.record.record_id): c.record for cs in by_org.values() for c in cs
    }
    decisions = _placed_elsewhere(_twins_elsewhere(decisions, by_org), by_org)
    return _one_child(_rivals_elsewhere(decisions, by_org, model), records)


def _rivals_elsewhere(
    decisions: list[MatchDecision], by_org: dict[str, list[Comparison]], model: MatchingModel
) -> list[MatchDecision]:
    """A match is in doubt when another roll holds another child (not the matched row's,
    :func:`_same_person`) whom the police record fits better, above the review
    threshold, and who is no match there (matches on two rolls are :func:`_one_child`'s):
    the best candidate in the directory is not the match, as within one roll
    (:func:`_decide_organisation`, a lesser match under a best that is no match). One
    roll alone cannot see it. Thomas Robinson, born the same day as Theo Robinson and
    living a town away, is the only candidate on his GP's list and matched there, while
    the school that holds both boys found Theo at the police record's address (27 bits,
    another given name: review) above Thomas (20 bits, his address another): held-out
    seed 5 with GP lists.

    A twin whom the given name tells apart (the twin's ``disagree``, the match's own name
    like the police's) is no rival while the matched row's place is unknown or the
    police record's: twins share a home, and a twin at the police record's address
    outscores a row without one (:func:`_twins_elsewhere` decides twins at two schools).
    Thomas and Theo share a family name and a birthday, but Thomas lives elsewhere."""
    matches = {(d.org_code, d.roll_record_id) for d in decisions if d.decision == "match"}
    out = []
    for d in decisions:
        if (
            d.decision == "match"
            and d.explanation["rule"] == "threshold"
            and _fits_better_elsewhere(d, by_org, matches, model)
        ):
            d = replace(d, decision="review", explanation={**d.explanation, "rule": "ambiguous"})
        out.append(d)
    return out


def _fits_better_elsewhere(
    d: MatchDecision,
    by_org: dict[str, list[Comparison]],
    matches: set[tuple[str, str]],
    model: MatchingModel,
) -> bool:
    """Whether another roll holds a rival of the match ``d`` (:func:`_rivals_elsewhere`)."""
    matched = next(c for c in by_org[d.org_code] if c.record.record_id == d.roll_record_id)
    names_twins = not matched.swapped and matched.levels["given_name"] in _GIVEN_FOR_TWINS
    twins_share_home = names_twins and not _placed_apart(matched)
    for org, cs in by_org.items():
        if org == d.org_code:
            continue
        for c in cs:
            if (
                c.total <= matched.total
                or c.total < model.thresholds.review
                or (org, c.record.record_id) in matches
                or _same_person(matched.record, c.record)
            ):
                continue
            told_apart = _is_twin(matched.record, c.record) and _told_apart(matched, c)
            if not (told_apart and twins_share_home):
                return True
    return False


def _twins_elsewhere(
    decisions: list[MatchDecision], by_org: dict[str, list[Comparison]]
) -> list[MatchDecision]:
    """Twins at different schools: a match is in doubt when another roll holds the
    matched child's twin and the police's given name is somewhat like the twin's too: a
    misspelt name with a mistyped date (Lenna, a day out) may fit one twin's name best
    and be the other's. A name nothing like the twin's (the twin's level ``disagree``)
    leaves the match (stricter within one roll, :func:`_decide_organisation`), unless the
    match's own given name disagrees (the opt-in rule "another given name at home"): then
    the name tells neither twin apart, and any twin holds the match back."""
    out = []
    for d in decisions:
        if d.decision == "match" and d.explanation["rule"] == "threshold" and d.record:
            best = next(c for c in by_org[d.org_code] if c.record.record_id == d.roll_record_id)
            twins = [
                c
                for org, cs in by_org.items()
                if org != d.org_code
                for c in cs
                if _is_twin(d.record, c.record)
            ]
            named_otherwise = best.levels["given_name"] == "disagree"
            if twins and (
                best.swapped or named_otherwise or not all(_told_apart(best, c) for c in twins)
            ):
                d = replace(d, decision="review", explanation={**d.explanation, "rule": "twin"})
        out.append(d)
    return out


def _placed_elsewhere(
    decisions: list[MatchDecision], by_org: dict[str, list[Comparison]]
) -> list[MatchDecision]:
    """A match on a row that holds no place (postcode and address both missing: a GP
    list's row without them, say) is in doubt when another roll holds a row of the same
    child (:func:`_same_person`) whose place is not the police record's: the directory
    does know where that child lives, and it is elsewhere. Weighed alone, the row's
    missing place costs nothing, and a namesake born that day matched (Amelia for Mia
    Smith, a town away: held-out seed 3 with GP lists)."""
    out = []
    for d in decisions:
        if d.decision == "match" and d.explanation["rule"] == "threshold" and d.record:
            placeless = d.explanation["postcode"] == d.explanation["address"] == "missing"
            if placeless and any(
                _same_person(d.record, c.record) and _placed_apart(c)
                for org, cs in by_org.items()
                if org != d.org_code
                for c in cs
            ):
                d = replace(
                    d, decision="review", explanation={**d.explanation, "rule": "elsewhere"}
                )
        out.append(d)
    return out


def _placed_apart(c: Comparison) -> bool:
    """The row's place is known and is not the police record's."""
    levels = (c.levels["postcode"], c.levels["address"])
    return "disagree" in levels and not any(level in _SAME_PLACE for level in levels)


# Postcode and address levels that put the police record's child at the row's home or
# next to it (candidate_rules' corroborating places).
_SAME_PLACE = ("unit", "sector", "same", "similar")


def _same_person(a: RollRecord, b: RollRecord) -> bool:
    return (
        a.date_of_birth == b.date_of_birth
        and a.norm_family == b.norm_family
        and a.norm_given.split(" ", 1)[:1] == b.norm_given.split(" ", 1)[:1]
    )


def _one_child(
    decisions: list[MatchDecision], records: dict[tuple[str, str], RollRecord]
) -> list[MatchDecision]:
    """The matches on different rolls must all be the one child. A match whose roll
    record is plainly someone else than the strongest match's (another date of birth,
    given or family name: say a same-named child with the day and month swapped at
    another school) is in doubt, and goes to ``review``; so does the strongest, unless its
    given name agrees exactly."""
    matches = [d for d in decisions if d.decision == "match"]
    if len(matches) < 2:
        return decisions
    best = max(matches, key=lambda d: (d.score, d.org_code, d.roll_record_id))
    anchor = records[(best.org_code, best.roll_record_id)]
    others = [
        m for m in matches if not _same_person(anchor, records[(m.org_code, m.roll_record_id)])
    ]
    # The strongest wins only on its given name as written: Mia (a short form of Amelia)
    # with an address at one school does not outrank Amelia herself at another (twins).
    doubt = {id(m) for m in others}
    if others and best.explanation.get("given_name") != "agree:exact":
        doubt |= {id(m) for m in matches}
    out = []
    for d in decisions:
        if id(d) in doubt:
            d = MatchDecision(
                "review",
                d.org_code,
                d.roll_record_id,
                d.score,
                {**d.explanation, "rule": "conflict"},
                d.record,
            )
        out.append(d)
    return out


__all__ = [
    "AMBIGUITY_MARGIN",
    "IDENTIFIER_CONFLICT",
    "MATCH_THRESHOLD",
    "REVIEW_THRESHOLD",
    "STRONG_DEMOGRAPHICS",
    "_NOT_FOR_MATCH",
    "Comparison",
    "Decision",
    "MatchDecision",
    "compare",
    "compare_candidates",
    "decide_among",
    "decide_compared",
    "match_child",
]

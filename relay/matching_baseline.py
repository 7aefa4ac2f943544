"""The plain reference for issue 22 (``relay matching baseline``): what a short rapidfuzz
matcher reaches on the same data, so that "out of reach" is measured, not assumed.

Same candidates as the router (its blocking keys, :class:`~services.router.linking.
RollIndex`); each candidate scored as a sum: given and family names by Jaro-Winkler
(the better of straight and swapped), date of birth exact or one digit off, postcode,
address by token-set ratio. The best candidate per record is a match at or above
``match``, a review at or above ``review``, provided it leads the runner-up by ``gap``;
both thresholds are chosen on a labelled tuning set (the lowest keeping precision
0.999 with no twin or sibling wrong, then the review threshold that finds a rolled
child per two reviews added), exactly as the trained model's are. No twin or nickname
rules, no term frequencies: it is the benchmark, not a candidate for the router.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler

from schemas.episode import ChildV1
from services.router.directory import RollRecord
from services.router.evaluation import Evaluation, Label, Outcome, evaluate
from services.router.matching import Decision
from services.router.names import normalise_name

# The best candidate must lead the runner-up by this much to be decided automatically.
GAP = 1.0
Scored = tuple[str, list[tuple[float, str]]]  # record id, (score, roll row) best first


def _dob(a: date, b: date) -> float:
    if a == b:
        return 1.0
    diffs = sum(x != y for x, y in zip(a.isoformat(), b.isoformat(), strict=True))
    return 0.5 if diffs == 1 or (a.year, a.month, a.day) == (b.year, b.day, b.month) else 0.0


def score(child: ChildV1, roll: RollRecord) -> float:
    """0 (nothing agrees) .. 10 (everything does)."""
    g, f = normalise_name(child.given_name), normalise_name(child.family_name)
    rg, rf = roll.norm_given, roll.norm_family
    names = max(
        JaroWinkler.similarity(g, rg) + JaroWinkler.similarity(f, rf),
        JaroWinkler.similarity(f, rg) + JaroWinkler.similarity(g, rf) - 0.2,
    )
    total = 2.5 * names + 3.0 * _dob(child.date_of_birth, roll.date_of_birth)
    if child.postcode and roll.postcode:
        total += 1.0 if child.postcode == roll.postcode else -0.5
    if child.address and roll.address:
        total += fuzz.token_set_ratio(child.address, roll.address) / 100 - 0.5
    return total


def score_all(
    children: Iterable[tuple[str, ChildV1]], candidates: Mapping[str, Sequence[RollRecord]]
) -> list[Scored]:
    out = []
    for rid, child in children:
        ranked = sorted(((score(child, r), r.record_id) for r in candidates[rid]), reverse=True)
        out.append((rid, ranked))
    return out


def decide(scored: Sequence[Scored], match: float, review: float, gap: float) -> list[Outcome]:
    outcomes = []
    for rid, ranked in scored:
        if not ranked or ranked[0][0] < review:
            outcomes.append(Outcome(rid, "no-match", None))
            continue
        top, row = ranked[0]
        clear = len(ranked) < 2 or top - ranked[1][0] >= gap
        decision: Decision = "match" if top >= match and clear else "review"
        outcomes.append(Outcome(rid, decision, row))
    return outcomes


def choose(
    scored: Sequence[Scored], labels: Mapping[str, Label], gap: float = GAP
) -> tuple[float, float]:
    def run(match: float, review: float) -> Evaluation:
        return evaluate(decide(scored, match, review, gap), labels)

    def safe(e: Evaluation) -> bool:
        return e.precision >= 0.999 and not e.twin_wrong and not e.sibling_wrong

    steps = [x / 20 for x in range(200, 80, -1)]  # 10 .. 4, down
    match = 10.0
    for t in steps:
        if not safe(run(t, t)):
            break
        match = t
    review, start = match, run(match, match)
    for r in [x for x in steps if x < match]:
        now = run(match, r)
        if 2 * (start.missed - now.missed) < now.reviews - start.reviews:
            break
        review = r
    return match, review

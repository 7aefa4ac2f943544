"""How well a matching model links a labelled set, and thresholds chosen on one (pure).

A label says which roll row a police record truly is (none: the child is on no roll)
and the record's ``group`` (``twin``, ``sibling`` or none). Each record's outcome is its
best decision across organisations, as ``relay link`` writes it:

- precision: automatic matches to the right roll row / all automatic matches
- recall: automatic matches to the right roll row / records whose child is on the roll
- review share: records sent to a person / all records
- wrong by group: automatic matches to another child, among twins and among siblings
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from services.router.matching import Comparison, Decision, decide_compared
from services.router.model import MatchingModel, Thresholds

_RANK = {"match": 2, "review": 1, "no-match": 0}
# Recall a higher match threshold may give up, for the margin it keeps from namesakes.
RECALL_TOLERANCE = 0.005


@dataclass(frozen=True)
class Label:
    record_id: str
    roll_record_id: str | None  # None: the child is on no roll
    group: str = ""


@dataclass(frozen=True)
class Outcome:
    record_id: str
    decision: Decision
    roll_record_id: str | None


@dataclass(frozen=True)
class Evaluation:
    records: int
    on_roll: int
    matches: int
    right_matches: int
    wrong_matches: int
    reviews: int
    missed: int  # on the roll, decided no-match
    twin_wrong: int
    sibling_wrong: int
    unlabelled: int  # outcomes with no label (left out of every figure)

    @property
    def precision(self) -> float:
        return self.right_matches / self.matches if self.matches else 1.0

    @property
    def recall(self) -> float:
        return self.right_matches / self.on_roll if self.on_roll else 1.0

    @property
    def review_share(self) -> float:
        return self.reviews / self.records if self.records else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "precision": round(self.precision, 5),
            "recall": round(self.recall, 5),
            "review_share": round(self.review_share, 5),
        }


def evaluate(outcomes: Iterable[Outcome], labels: Mapping[str, Label]) -> Evaluation:
    counts = dict.fromkeys(
        ("records", "on_roll", "matches", "right", "wrong", "reviews", "missed", "twin",
         "sibling", "unlabelled"),
        0,
    )  # fmt: skip
    for o in outcomes:
        label = labels.get(o.record_id)
        if label is None:
            counts["unlabelled"] += 1
            continue
        counts["records"] += 1
        counts["on_roll"] += label.roll_record_id is not None
        if o.decision == "review":
            counts["reviews"] += 1
        elif o.decision == "match":
            counts["matches"] += 1
            if o.roll_record_id == label.roll_record_id:
                counts["right"] += 1
            else:
                counts["wrong"] += 1
                if label.group in ("twin", "sibling"):
                    counts[label.group] += 1
        elif label.roll_record_id is not None:
            counts["missed"] += 1
    return Evaluation(
        counts["records"],
        counts["on_roll"],
        counts["matches"],
        counts["right"],
        counts["wrong"],
        counts["reviews"],
        counts["missed"],
        counts["twin"],
        counts["sibling"],
        counts["unlabelled"],
    )


def outcome(record_id: str, by_org: dict[str, list[Comparison]], model: MatchingModel) -> Outcome:
    """The record's best decision across organisations at ``model``'s thresholds."""
    decisions = decide_compared(by_org, model)
    if not decisions:
        return Outcome(record_id, "no-match", None)
    best = max(decisions, key=lambda d: (_RANK[d.decision], d.score))
    if best.decision == "no-match":
        return Outcome(record_id, "no-match", None)
    return Outcome(record_id, best.decision, best.roll_record_id)


def choose_thresholds(
    compared: Sequence[tuple[str, dict[str, list[Comparison]]]],
    labels: Mapping[str, Label],
    model: MatchingModel,
    min_precision: float = 0.9995,
    safety_bits: float = 0.0,
    recall_tolerance: float = RECALL_TOLERANCE,
) -> tuple[Thresholds, Evaluation]:
    """The lowest match threshold (in half bits) above which every threshold keeps
    ``min_precision`` with no twin or sibling matched wrongly, raised to the highest
    whose recall is within ``recall_tolerance`` of that one's, plus ``safety_bits``;
    then the lowest review threshold at which the reviews it adds (over those at the
    match threshold) find at least one child on the roll for every two.

    ``compared`` is each record's candidates compared once
    (:func:`services.router.matching.compare_candidates`); only the decisions are rerun.
    """

    def run(thresholds: Thresholds) -> Evaluation:
        trial = replace(model, thresholds=thresholds)
        return evaluate((outcome(rid, by_org, trial) for rid, by_org in compared), labels)

    margin = model.thresholds.ambiguity_margin

    def safe(e: Evaluation) -> bool:
        return e.precision >= min_precision and not e.twin_wrong and not e.sibling_wrong

    # The review threshold also decides which runners-up make a match ambiguous, so the
    # match threshold is scanned with the given one below it.
    match, recall_at = 40.0, {}
    for t in [x / 2 for x in range(80, 19, -1)]:  # 40 .. 10 bits, down
        e = run(Thresholds(t, min(t, model.thresholds.review), margin))
        if not safe(e):
            break
        match, recall_at[t] = t, e.recall
    # Where the curve is flat, stay high: the last half bits down buy almost no recall,
    # and the precision measured there rests on a few off-roll namesakes (a Muhammad
    # Smith born the same day as another, nothing to place either).
    if recall_at:
        match = max(t for t, r in recall_at.items() if r >= recall_at[match] - recall_tolerance)
    # Data unlike the tuning set may ask for a margin (2 bits: odds x 4). None by default:
    # on the held-out set it bought no precision, and cost the project's own sets recall.
    match += safety_bits
    review, start = match, run(Thresholds(match, match, margin))
    for r in [x / 2 for x in range(int(2 * match) - 1, -1, -1)]:
        now = run(Thresholds(match, r, margin))
        found = start.missed - now.missed  # children the lower threshold sends to a person
        if not safe(now) or 2 * found < now.reviews - start.reviews:
            break  # most of the reviews added since the match threshold are other children
        review = r
    chosen = Thresholds(match, review, margin)
    return chosen, run(chosen)


def miss_cause(
    label: Label, by_org: dict[str, list[Comparison]], model: MatchingModel
) -> str | None:
    """Why a child on the roll was not matched automatically to its row (None: it was):
    ``blocking`` (the row was not among the candidates), else the decision on the true
    row, the rule that made it, and the given name and birth date levels; for the
    threshold rule also whether the score reached the match threshold (the rules held it
    back) or not."""
    if label.roll_record_id is None:
        return None
    found = outcome(label.record_id, by_org, model)
    if found.decision == "match" and found.roll_record_id == label.roll_record_id:
        return None
    mine = [d for d in decide_compared(by_org, model) if d.roll_record_id == label.roll_record_id]
    if not mine:
        return "blocking"
    d = mine[0]
    given, born = d.explanation["given_name"], d.explanation["date_of_birth"]
    cause = f"{d.decision} {d.explanation['rule']} given={given} dob={born}"
    if d.explanation["rule"] == "threshold":
        above = d.score >= model.thresholds.match
        cause += " (score above match: a rule)" if above else " (score below match)"
    return cause


def review_cause(
    label: Label, by_org: dict[str, list[Comparison]], model: MatchingModel
) -> str | None:
    """Why a record went to a person (None: it did not): whether its child is on the
    roll (and the reviewed row is the child's), the rule that made the review, and the
    given name and birth date levels of the reviewed row with the highest score."""
    decisions = decide_compared(by_org, model)
    if outcome(label.record_id, by_org, model).decision != "review":
        return None
    d = max((d for d in decisions if d.decision == "review"), key=lambda d: d.score)
    if label.roll_record_id is None:
        whose = "child on no roll"
    elif any(x.roll_record_id == label.roll_record_id for x in decisions if x.decision == "review"):
        whose = "child on the roll"
    else:
        whose = "child on the roll, its row not in review"
    given, born = d.explanation["given_name"], d.explanation["date_of_birth"]
    return f"{whose}: {d.explanation['rule']} given={given} dob={born}"


__all__ = [
    "Evaluation",
    "Label",
    "Outcome",
    "choose_thresholds",
    "evaluate",
    "miss_cause",
    "outcome",
    "review_cause",
]

"""How right the matcher is: precision and recall of its decisions against the truth of
the synthetic area, per kind of police-record error, and on the twin cases."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from relay.demo_data import TruthRow


@dataclass(frozen=True)
class Outcome:
    """The matcher's answer for one (police record, organisation) pair."""

    record_id: str
    org_code: str
    decision: str
    roll_record_id: str


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(share * len(ordered))))
    return ordered[rank - 1]


def score(truth: list[TruthRow], outcomes: list[Outcome]) -> dict[str, Any]:
    """Precision and recall of ``match`` decisions against the truth, per (record,
    organisation) pair, with reviews, false matches (ids only) and the twin cases."""
    true_pairs: dict[tuple[str, str], str] = {}
    by_record = {t.event_id: t for t in truth}
    for t in truth:
        if t.school_record_id:
            true_pairs[(t.event_id, t.school_urn)] = t.school_record_id
        if t.gp_record_id:
            true_pairs[(t.event_id, t.gp_code)] = t.gp_record_id
        if t.yot_record_id:
            true_pairs[(t.event_id, t.yot_code)] = t.yot_record_id
    matches = [o for o in outcomes if o.decision == "match"]
    right = [o for o in matches if true_pairs.get((o.record_id, o.org_code)) == o.roll_record_id]
    wrong = [o for o in matches if o not in right]
    reviews = [o for o in outcomes if o.decision == "review"]
    per_kind: dict[str, Counter[str]] = {}
    matched_pairs = {(o.record_id, o.org_code) for o in right}
    reviewed_pairs = {(o.record_id, o.org_code) for o in reviews}
    for (record_id, org), _ in true_pairs.items():
        kinds = by_record[record_id].corruption or ("clean",)
        for kind in kinds:
            counts = per_kind.setdefault(kind, Counter())
            counts["pairs"] += 1
            counts["matched"] += (record_id, org) in matched_pairs
            counts["reviewed"] += (record_id, org) in reviewed_pairs
    for o in wrong:
        for kind in by_record[o.record_id].corruption or ("clean",):
            per_kind.setdefault(kind, Counter())["false_matches"] += 1
    twins = _twins(truth, outcomes)
    return {
        "true_pairs": len(true_pairs),
        "matches": len(matches),
        "precision": len(right) / len(matches) if matches else 1.0,
        "recall": len(matched_pairs) / len(true_pairs) if true_pairs else 1.0,
        "reviews": len(reviews),
        "reviewed_true_pairs": len(reviewed_pairs & set(true_pairs)),
        "false_matches": [
            {
                "record_id": o.record_id,
                "org_code": o.org_code,
                "roll_record_id": o.roll_record_id,
                "true_record_id": true_pairs.get((o.record_id, o.org_code), ""),
                "corruption": "|".join(by_record[o.record_id].corruption),
            }
            for o in wrong
        ],
        "twins": twins,
        "by_corruption": {
            kind: {
                "pairs": c["pairs"],
                "recall": c["matched"] / c["pairs"] if c["pairs"] else None,
                "reviewed": c["reviewed"],
                "false_matches": c["false_matches"],
            }
            for kind, c in sorted(per_kind.items())
        },
    }


def _twins(truth: list[TruthRow], outcomes: list[Outcome]) -> dict[str, Any]:
    """Each twin's record on its school roll (where its twin is too): right, review,
    wrong (matched to someone else, e.g. the twin) or missed."""
    school_outcomes: dict[tuple[str, str], list[Outcome]] = {}
    for o in outcomes:
        school_outcomes.setdefault((o.record_id, o.org_code), []).append(o)
    counts: Counter[str] = Counter()
    wrong: list[str] = []
    for t in truth:
        if not (t.twin and t.school_record_id):
            continue
        found = school_outcomes.get((t.event_id, t.school_urn), [])
        decisions = {o.decision for o in found}
        if any(o.decision == "match" and o.roll_record_id != t.school_record_id for o in found):
            counts["wrong"] += 1
            wrong.append(t.event_id)
        elif any(o.decision == "match" for o in found):
            counts["right"] += 1
        elif "review" in decisions:
            counts["review"] += 1
        else:
            counts["missed"] += 1
    return {
        "cases": sum(counts.values()),
        "right": counts["right"],
        "review": counts["review"],
        "wrong": counts["wrong"],
        "missed": counts["missed"],
        "wrong_record_ids": wrong,
    }

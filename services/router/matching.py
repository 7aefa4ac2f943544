"""Who is this child on each organisation's roll? (DESIGN §6; pure.)

:func:`match_child` is the one entry point: a later version replaces its insides with a
probabilistic matcher, so callers depend on nothing else here. Precision comes first: a
wrong match discloses a child to the wrong school, so anything uncertain is a ``review``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Literal

from schemas.episode import ChildV1
from services.router.directory import RollRecord
from services.router.names import normalise_name

Decision = Literal["match", "review", "no-match"]
Agreement = Literal["agree", "disagree", "missing"]


@dataclass(frozen=True)
class MatchDecision:
    decision: Decision
    org_code: str
    roll_record_id: str
    score: float
    explanation: dict[str, Agreement] = field(default_factory=dict)


def child_key(child: ChildV1) -> str:
    """A stable key for one child across episodes: NHS number, else name and birth date."""
    if child.nhs_number:
        return f"nhs:{child.nhs_number}"
    return (
        f"name:{normalise_name(child.family_name)}|{normalise_name(child.given_name)}"
        f"|{child.date_of_birth.isoformat()}"
    )


def _agreement(ours: object, theirs: object) -> Agreement:
    if ours is None or theirs is None:
        return "missing"
    return "agree" if ours == theirs else "disagree"


def _explain(child: ChildV1, given: str, family: str, record: RollRecord) -> dict[str, Agreement]:
    return {
        "nhs_number": _agreement(child.nhs_number, record.nhs_number),
        "upn": _agreement(child.upn, record.upn),
        "given_name": _agreement(given, record.norm_given),
        "family_name": _agreement(family, record.norm_family),
        "date_of_birth": _agreement(child.date_of_birth, record.date_of_birth),
        "postcode": _agreement(child.postcode, record.postcode),
    }


def _decide(child: ChildV1, given: str, family: str, record: RollRecord) -> MatchDecision:
    why = _explain(child, given, family, record)
    strong_agree = "agree" in (why["nhs_number"], why["upn"])
    strong_disagree = "disagree" in (why["nhs_number"], why["upn"])
    names_dob_agree = all(why[f] == "agree" for f in ("given_name", "family_name", "date_of_birth"))

    def decided(decision: Decision, score: float) -> MatchDecision:
        return MatchDecision(decision, record.org_code, record.record_id, score, why)

    if strong_agree and strong_disagree:
        # The NHS number agrees and the UPN does not (or the other way round).
        return decided("review", 0.6)
    if strong_agree:
        if why["family_name"] == "disagree" and why["date_of_birth"] == "disagree":
            return decided("review", 0.5)
        return decided("match", 1.0)
    if names_dob_agree:
        # Same name and birth date but a different NHS number or UPN: two children, or a
        # typo in an identifier. A person decides.
        return decided("review", 0.6) if strong_disagree else decided("match", 0.9)
    swapped = (
        record.norm_given == family
        and record.norm_family == given
        and why["date_of_birth"] == "agree"
    )
    if swapped and not strong_disagree:
        return decided("review", 0.7)
    return decided("no-match", 0.0)


def match_child(child: ChildV1, candidates: Sequence[RollRecord], on: date) -> list[MatchDecision]:
    """Decide, for every candidate roll record on roll on ``on``, whether it is ``child``.

    Per organisation at most one record is a ``match``: when two records of one
    organisation match (twins, a duplicate on the roll), or one matches and another needs
    review, all of them become ``review``.
    """
    given = normalise_name(child.given_name)
    family = normalise_name(child.family_name)
    by_org: dict[str, list[MatchDecision]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for record in candidates:
        if (record.org_code, record.record_id) in seen or not record.on_roll(on):
            continue
        seen.add((record.org_code, record.record_id))
        by_org[record.org_code].append(_decide(child, given, family, record))
    decisions: list[MatchDecision] = []
    for org_code in sorted(by_org):
        org_decisions = by_org[org_code]
        kinds = [d.decision for d in org_decisions]
        if kinds.count("match") > 1 or ("match" in kinds and "review" in kinds):
            org_decisions = [
                replace(d, decision="review", score=min(d.score, 0.5))
                if d.decision == "match"
                else d
                for d in org_decisions
            ]
        decisions.extend(org_decisions)
    return decisions

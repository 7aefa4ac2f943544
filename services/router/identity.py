"""Which child is this episode's? The one definition of "the same child" (issue 20; pure).

The router keeps a person index: every episode with the child as its police record gave
it, and the ``child_id`` it belongs to (services/router/person_index.py does the I/O).
:func:`link_child` decides a new episode's child from what the index found, strongest
evidence first:

1. the same ``police_person_id`` within the same force (the force's own nominal id);
2. the same NHS number;
3. the same roll record at any organisation (the roll matcher matched both episodes'
   children to it);
4. a roll record the roll matcher was unsure of only on the evidence of this record
   (a shared nickname, a mistyped date) yet found no other candidate for at any
   organisation, when an earlier child matched that record and compares at least at
   review level: the roll says there is no twin or namesake it could be instead;
5. a confident probabilistic match (:mod:`services.router.matching`, the same field
   comparisons and thresholds as roll matching, twins and ambiguity rules included;
   never the opt-in rule "another given name at home", see :func:`_probabilistic`)
   against earlier episodes' children.

Precision first: an identifier with names and date of birth that plainly disagree, two
identifiers pointing at two children, two children sharing one identifier (a split a
person made), or a match below the threshold is never linked: the episode gets a new
child and the doubtful candidates go to a person ("the same child as …?"), whose yes
merges the two.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

from schemas.child_identity import LinkBasis
from schemas.episode import ChildV1
from services.router.directory import RollRecord
from services.router.matching import (
    IDENTIFIER_CONFLICT,
    Comparison,
    compare,
    decide_among,
)
from services.router.model import MatchingModel, Rules
from services.router.weights import BASELINE

# The org_code of a person record seen as a roll record by the matcher.
INDEX = "person-index"


@dataclass(frozen=True)
class PersonRecord:
    """One earlier episode's child, as the person index keeps it. Names and date of birth
    are None only for episodes linked before the index (migrated by NHS number alone)."""

    force_code: str
    episode_ref: str
    child_id: str
    given_name: str | None
    family_name: str | None
    date_of_birth: date | None
    norm_given: str | None = None
    norm_family: str | None = None
    sex: str | None = None
    postcode: str | None = None
    address: str | None = None
    nhs_number: str | None = None
    upn: str | None = None
    police_person_id: str | None = None

    def as_roll_record(self) -> RollRecord | None:
        """The record as the matcher compares it (``record_id`` = the child), or None
        without the names and date of birth a comparison needs."""
        if not (self.norm_given and self.norm_family and self.date_of_birth):
            return None
        return RollRecord(
            org_code=INDEX,
            record_id=self.child_id,
            given_name=self.given_name or self.norm_given,
            family_name=self.family_name or self.norm_family,
            date_of_birth=self.date_of_birth,
            norm_given=self.norm_given,
            norm_family=self.norm_family,
            nhs_number=self.nhs_number,
            upn=self.upn,
            postcode=self.postcode,
            address=self.address,
            sex=self.sex,
        )


@dataclass(frozen=True)
class Evidence:
    """What the index found for a new episode, by kind of evidence."""

    by_police_id: Sequence[PersonRecord] = ()
    by_nhs_number: Sequence[PersonRecord] = ()
    by_roll_record: Sequence[PersonRecord] = ()
    # Linked to the one candidate record of each organisation where the roll matcher
    # asked for a review on the threshold alone (services/router/person_index.py).
    by_sole_roll_candidate: Sequence[PersonRecord] = ()
    similar: Sequence[PersonRecord] = ()  # sharing a blocking key


@dataclass(frozen=True)
class Candidate:
    """An earlier child the episode's child may be: its closest record, the score and
    the explanation (as a roll review's candidates have them)."""

    child_id: str
    record: PersonRecord
    score: float
    explanation: dict[str, str] = field(default_factory=dict)
    episodes: int = 1


@dataclass(frozen=True)
class LinkDecision:
    """``child_id`` None: a new child. ``review``: earlier children it may be (a person
    decides; a yes merges them)."""

    child_id: str | None
    basis: LinkBasis
    review: tuple[Candidate, ...] = ()


def _by_child(records: Iterable[PersonRecord]) -> dict[str, list[PersonRecord]]:
    out: dict[str, list[PersonRecord]] = {}
    for r in records:
        out.setdefault(r.child_id, []).append(r)
    return out


def _best(
    child: ChildV1, records: Sequence[PersonRecord], model: MatchingModel
) -> tuple[PersonRecord, Comparison | None]:
    """The child's record that compares best with ``child`` (a nameless migrated record
    when none can be compared)."""
    compared = [(r, compare(child, rr, model)) for r in records if (rr := r.as_roll_record())]
    if not compared:
        return records[0], None
    return max(compared, key=lambda rc: (rc[1].total, rc[0].episode_ref))


def _candidate(
    child: ChildV1,
    child_id: str,
    records: Sequence[PersonRecord],
    rule: str,
    model: MatchingModel,
) -> Candidate:
    record, comparison = _best(child, records, model)
    return Candidate(
        child_id,
        record,
        round(comparison.total, 2) if comparison else 0.0,
        comparison.explain(rule) if comparison else {"rule": rule},
        len({r.episode_ref for r in records}),
    )


def _conflicts(
    child: ChildV1, force_code: str, records: Sequence[PersonRecord], model: MatchingModel
) -> bool:
    """An earlier record of this child that plainly is someone else: another NHS number
    or UPN, another police person id of the same force, another given name, or names
    and date of birth that disagree outright."""
    for r in records:
        if child.nhs_number and r.nhs_number and r.nhs_number != child.nhs_number:
            return True
        if child.upn and r.upn and r.upn != child.upn:
            return True
        if (
            child.police_person_id
            and r.police_person_id
            and r.force_code == force_code
            and r.police_person_id != child.police_person_id
        ):
            return True
    _record, comparison = _best(child, records, model)
    if comparison is None:
        return False
    names_disagree = (
        comparison.levels["given_name"] == comparison.levels["family_name"] == "disagree"
    )
    # Another given name with the same family and birthday is a twin's or a sibling's
    # record carrying this identifier (borrowed, mistyped): never linked without a person.
    other_given = comparison.levels["given_name"] == "disagree"
    return names_disagree or other_given or comparison.demographic < IDENTIFIER_CONFLICT


def _close_enough(child: ChildV1, records: Sequence[PersonRecord], model: MatchingModel) -> bool:
    _record, comparison = _best(child, records, model)
    return comparison is not None and comparison.total >= model.thresholds.review


_TIERS = (
    ("by_police_id", LinkBasis.POLICE_PERSON_ID),
    ("by_nhs_number", LinkBasis.NHS_NUMBER),
    ("by_roll_record", LinkBasis.ROLL_RECORD),
    ("by_sole_roll_candidate", LinkBasis.ROLL_RECORD),
)


def link_child(
    child: ChildV1, force_code: str, evidence: Evidence, model: MatchingModel = BASELINE
) -> LinkDecision:
    """The child of a new episode whose police record gives ``child`` (see the module),
    its records compared with ``model``: the router's, as for roll matching."""
    chosen: str | None = None
    basis = LinkBasis.NEW
    doubtful: dict[str, Candidate] = {}
    for name, tier_basis in _TIERS:
        children = _by_child(getattr(evidence, name))
        for child_id, records in sorted(children.items()):
            if child_id == chosen or child_id in doubtful:
                continue
            if _conflicts(child, force_code, records, model):
                doubtful[child_id] = _candidate(
                    child, child_id, records, "identifier-conflict", model
                )
            elif name == "by_sole_roll_candidate" and not _close_enough(child, records, model):
                continue  # the record is someone the police record hardly resembles
            elif chosen is None and len(children) == 1:
                chosen, basis = child_id, tier_basis
            else:
                # Two children behind one identifier (a person split them), or a weaker
                # identifier naming another child than a stronger one: a person decides.
                doubtful[child_id] = _candidate(child, child_id, records, "ambiguous", model)
    if chosen is not None or doubtful:
        return LinkDecision(chosen, basis, tuple(doubtful.values()))
    return _probabilistic(child, force_code, evidence.similar, model)


def _other_person(child: ChildV1, force_code: str, records: Sequence[PersonRecord]) -> bool:
    """The force gave this child another person id than an earlier record's: two
    nominal records (a duplicate in the police system happens), never linked alone."""
    return any(
        child.police_person_id
        and r.police_person_id
        and r.force_code == force_code
        and r.police_person_id != child.police_person_id
        for r in records
    )


def _probabilistic(
    child: ChildV1, force_code: str, similar: Sequence[PersonRecord], model: MatchingModel
) -> LinkDecision:
    best: list[Comparison] = []
    records_of: dict[str, list[PersonRecord]] = {}
    for child_id, records in _by_child(similar).items():
        _record, comparison = _best(child, records, model)
        if comparison is not None:
            best.append(comparison)
            records_of[child_id] = records
    if not best:
        return LinkDecision(None, LinkBasis.NEW)
    # The roll matcher's opt-in "another given name at home" rests on twins being found
    # anywhere in the directory; earlier episodes hold no twin who never went missing
    # (siblings of one home often do), so the index links on it never.
    plain = model if model.rules == Rules() else replace(model, rules=Rules())
    decisions = decide_among(best, plain)
    doubted = {
        d.roll_record_id
        for d in decisions
        if d.decision == "match" and _other_person(child, force_code, records_of[d.roll_record_id])
    }
    matched = [d for d in decisions if d.decision == "match" and d.roll_record_id not in doubted]
    reviews = tuple(
        Candidate(
            d.roll_record_id,
            _best(child, records_of[d.roll_record_id], model)[0],
            d.score,
            {**d.explanation, "rule": "police-person-id"}
            if d.roll_record_id in doubted
            else dict(d.explanation),
            len({r.episode_ref for r in records_of[d.roll_record_id]}),
        )
        for d in sorted(decisions, key=lambda d: -d.score)
        if d.decision == "review" or d.roll_record_id in doubted
    )
    if matched:
        return LinkDecision(matched[0].roll_record_id, LinkBasis.MATCHED, reviews)
    return LinkDecision(None, LinkBasis.NEW, reviews)


def same_date_of_birth(a: Iterable[date | None], b: Iterable[date | None]) -> bool:
    """Whether two children's records agree on the date of birth (a merge of children
    born on different days needs a person's explicit confirmation)."""
    return {d for d in a if d is not None} == {d for d in b if d is not None}

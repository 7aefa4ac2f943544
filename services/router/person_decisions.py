"""A person's decision on who the child is at an organisation follows the child (pure).

A review held for a person (services/router/review_store.py) is decided once, for one
event of one episode. Without this the episode's next event (``found``, ``returned``)
and the child's next episode went to review again with the same candidates: the school
that a person had already said was the child's heard nothing of its return until
somebody decided the same thing a second time, and the children the matcher can never
settle alone (another given name at home, issue 22) cost a person's time at every
event of every episode (about 2.9 episodes a child, DOMAIN.md).

:func:`follow` works one organisation at a time, where a person decided for the same
child (the person index's child of the episode, services/router/person_index.py). A
``review`` is settled as the person decided:

- ``match`` on a record that is among this event's review candidates there: that
  record is the match (rule ``decided``), the organisation's other candidates
  ``no-match`` (rule ``decided``);
- ``no-match`` and every review candidate there is one the person was shown: no match
  (rule ``decided``). A candidate the person never saw (a roll imported since) still
  goes to a person.

A ``match`` of a record the person said is not the child (another record chosen, or
none of those shown) goes to a person (rule ``decided-otherwise``): the matcher's
reading and a person's disagree, and the school a person ruled out must not be told.

An organisation that disputed the episode's match (services/router/disputes.py) is
left as the disputes made it: a person decides that dispute. A dispute in any of the
child's episodes counts as a decision at its organisation too: undecided, it settles
nothing (:func:`disputed`); refuted, it is a ``no-match`` of the record disputed;
confirmed, a ``match`` of it. The latest decision at an organisation counts; a
withdrawn episode's decisions do not (the store leaves them out).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from services.router.matching import MatchDecision

DECIDED = "decided"
# The matcher matched a record a person (or the organisation, undecided) said is not the
# child: a person looks again.
DECIDED_OTHERWISE = "decided-otherwise"


@dataclass(frozen=True)
class PersonDecision:
    """What a person decided for the child at one organisation, in review ``review_id``
    (ids only), at ``at``."""

    org_code: str
    roll_record_id: str | None  # None: none of the candidates shown is the child
    shown: frozenset[str]  # the roll records the person was shown
    review_id: str
    at: datetime
    # An organisation's "we do not know this child" (of the records ``shown``) that
    # nobody has decided yet.
    undecided: bool = False


def disputed(org_code: str, record: str | None, review_id: str, at: datetime) -> PersonDecision:
    """An organisation's "we do not know this child" that nobody has decided yet: it
    settles nothing, a match decided before it no longer counts there, and a match of
    the record disputed goes to a person."""
    shown = frozenset({record}) if record else frozenset()
    return PersonDecision(org_code, None, shown, review_id, at, undecided=True)


def latest_by_organisation(decisions: Iterable[PersonDecision]) -> dict[str, PersonDecision]:
    """The latest decision at each organisation."""
    return {d.org_code: d for d in sorted(decisions, key=lambda d: (d.at, d.review_id))}


def settles(person: PersonDecision, candidates: Iterable[str]) -> bool:
    """Whether ``person``'s decision answers a review of ``candidates`` at the same
    organisation: the record matched is one of them, or the person said none and saw
    every one."""
    shown = set(candidates)
    if not shown or person.undecided:
        return False
    if person.roll_record_id is not None:
        return person.roll_record_id in shown
    return shown <= person.shown


def rejects(person: PersonDecision, record: str) -> bool:
    """Whether ``person``'s decision says ``record`` is not the child (or an organisation
    said so and nobody has decided yet): another record chosen, or ``record`` shown and
    none chosen."""
    if person.undecided:
        return not person.shown or record in person.shown
    if person.roll_record_id is not None:
        return person.roll_record_id != record
    return record in person.shown


def needs_person_decisions(decisions: Sequence[MatchDecision], new_child: bool) -> bool:
    """Whether :func:`follow` could change anything (the store is asked only then): a
    review, or a match of a child the person index already knew (a child first seen
    with this event has no decision yet)."""
    return any(
        d.decision == "review" or (d.decision == "match" and not new_child) for d in decisions
    )


def follow(
    decisions: Sequence[MatchDecision],
    earlier: Mapping[str, PersonDecision],
    disputes: Mapping[str, str],
) -> list[MatchDecision]:
    """``decisions`` with the reviews a person already decided for this child settled
    (see the module's docstring); in the same order."""
    settled: dict[int, MatchDecision] = {}
    by_org: dict[str, list[int]] = {}
    for i, d in enumerate(decisions):
        by_org.setdefault(d.org_code, []).append(i)
    for org_code, indexes in by_org.items():
        person = earlier.get(org_code)
        if person is None or org_code in disputes:
            continue
        at_org = [decisions[i] for i in indexes]
        matched = [i for i in indexes if decisions[i].decision == "match"]
        for i in matched:
            d = decisions[i]
            if rejects(person, d.roll_record_id):
                why = {"rule": DECIDED_OTHERWISE, "decided_in": person.review_id}
                settled[i] = replace(d, decision="review", explanation={**d.explanation, **why})
        if matched:
            continue
        reviewed = {d.roll_record_id for d in at_org if d.decision == "review"}
        if not settles(person, reviewed):
            continue
        for i in indexes:
            d = decisions[i]
            chosen = d.roll_record_id == person.roll_record_id
            settled[i] = replace(
                d,
                decision="match" if chosen else "no-match",
                explanation={**d.explanation, "rule": DECIDED, "decided_in": person.review_id},
            )
    return [settled.get(i, d) for i, d in enumerate(decisions)]


def newly_matched(
    before: Sequence[MatchDecision], after: Sequence[MatchDecision]
) -> list[tuple[str, str]]:
    """(organisation, record) of the matches :func:`follow` made."""
    return [
        (a.org_code, a.roll_record_id)
        for b, a in zip(before, after, strict=True)
        if a.decision == "match" and b.decision != "match"
    ]

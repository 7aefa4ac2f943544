"""A person's decision follows the child (services/router/person_decisions.py, pure):
which reviews an earlier decision settles, and which it leaves to a person."""

from __future__ import annotations

from datetime import UTC, datetime

from services.router.deciding import DISPUTED
from services.router.matching import Decision, MatchDecision
from services.router.person_decisions import (
    DECIDED,
    DECIDED_OTHERWISE,
    PersonDecision,
    disputed,
    follow,
    latest_by_organisation,
    needs_person_decisions,
    newly_matched,
    settles,
)

AT = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
SCHOOL, GP = "100001", "A81001"


def d(decision: Decision, org: str, record: str) -> MatchDecision:
    return MatchDecision(
        decision, org, record, 12.0, {"given_name": "disagree", "rule": "threshold"}
    )


def person(
    record: str | None, *shown: str, org: str = SCHOOL, review: str = "rev-1", hour: int = 9
) -> PersonDecision:
    return PersonDecision(org, record, frozenset(shown), review, AT.replace(hour=hour))


def test_a_match_a_person_made_settles_the_review_of_that_record() -> None:
    before = [d("review", SCHOOL, "S1"), d("review", SCHOOL, "S2"), d("match", GP, "G1")]
    after = follow(before, {SCHOOL: person("S2", "S1", "S2")}, {})
    assert [(x.decision, x.roll_record_id, x.explanation["rule"]) for x in after] == [
        ("no-match", "S1", DECIDED),
        ("match", "S2", DECIDED),
        ("match", "G1", "threshold"),
    ]
    assert after[1].explanation["decided_in"] == "rev-1"
    assert after[1].explanation["given_name"] == "disagree"  # the matcher's own reading kept
    assert newly_matched(before, after) == [(SCHOOL, "S2")]


def test_a_match_on_a_record_not_under_review_settles_nothing() -> None:
    # The record the person chose is gone from the roll, or no longer a candidate.
    before = [d("review", SCHOOL, "S1"), d("no-match", SCHOOL, "S2")]
    assert follow(before, {SCHOOL: person("S2", "S1", "S2")}, {}) == before


def test_no_match_settles_only_candidates_the_person_was_shown() -> None:
    before = [d("review", SCHOOL, "S1")]
    [after] = follow(before, {SCHOOL: person(None, "S1", "S3")}, {})
    assert (after.decision, after.explanation["rule"]) == ("no-match", DECIDED)
    newer = [d("review", SCHOOL, "S1"), d("review", SCHOOL, "S4")]  # S4 imported since
    assert follow(newer, {SCHOOL: person(None, "S1", "S3")}, {}) == newer


def test_a_disputed_organisation_and_another_organisation_are_left_alone() -> None:
    before = [d("review", SCHOOL, "S1"), d("review", GP, "G1")]
    assert follow(before, {SCHOOL: person("S1", "S1")}, {SCHOOL: DISPUTED}) == before
    assert follow(before, {GP: person("G2", "G2", org=GP)}, {}) == before


def test_a_match_stands_unless_a_person_ruled_its_record_out() -> None:
    before = [d("match", SCHOOL, "S1"), d("no-match", SCHOOL, "S2")]
    assert follow(before, {SCHOOL: person("S1", "S1", "S2")}, {}) == before
    assert follow(before, {SCHOOL: person(None, "S3")}, {}) == before  # S1 never shown
    for ruled_out in (person("S2", "S1", "S2"), person(None, "S1")):
        after = follow(before, {SCHOOL: ruled_out}, {})
        assert [(x.decision, x.explanation["rule"]) for x in after] == [
            ("review", DECIDED_OTHERWISE),
            ("no-match", "threshold"),
        ]
        assert newly_matched(before, after) == []
    # The store is asked only when a decision could change: a review, or a match of a
    # child the person index knew before this event.
    assert not needs_person_decisions(before, new_child=True)
    assert needs_person_decisions(before, new_child=False)
    assert needs_person_decisions([*before, d("review", GP, "G1")], new_child=True)
    assert not needs_person_decisions([d("no-match", SCHOOL, "S1")], new_child=False)


def test_the_latest_decision_at_an_organisation_counts() -> None:
    older, newer = person("S1", "S1", review="rev-1"), person(None, "S1", review="rev-2", hour=10)
    assert latest_by_organisation([newer, older]) == {SCHOOL: newer}
    assert settles(newer, ["S1"]) and not settles(newer, ["S1", "S2"])
    assert settles(older, ["S2", "S1"]) and not settles(older, ["S2"]) and not settles(older, [])


def test_an_undecided_dispute_after_a_match_leaves_the_review_to_a_person() -> None:
    # The school said "we do not know this child" after a person matched S1: until a
    # person decides the dispute, the match is followed no more.
    before = [d("review", SCHOOL, "S1")]
    matched = person("S1", "S1", "S2")
    answered = disputed(SCHOOL, "S1", "dispute-1", AT.replace(hour=11))
    latest = latest_by_organisation([matched, answered])
    assert follow(before, latest, {}) == before
    assert not settles(answered, ["S1"])
    # The matcher's own match of the record disputed goes to a person; another does not.
    [doubted] = follow([d("match", SCHOOL, "S1")], latest, {})
    assert (doubted.decision, doubted.explanation["decided_in"]) == ("review", "dispute-1")
    assert follow([d("match", SCHOOL, "S2")], latest, {})[0].decision == "match"

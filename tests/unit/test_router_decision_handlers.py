"""The router's decision handlers (services/router/handlers.py ``apply_decision``,
``change_identity``; services/router/disputes.py ``dispute_match``) driven through the
in-memory store and outbox (tests/unit/router_fakes.py): what they publish and keep.
The SQL store and the consumer around it: tests/integration/test_router_*.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from schemas.base import derived_id
from schemas.catalogue import ALERTS_REQUESTED, CHILD_IDENTITIES, IDENTITY_DECISIONS
from schemas.child_identity import ChildIdentityChangeV1, ChildIdentityV1, EpisodeKeyV1, LinkBasis
from schemas.messages import (
    AlertAnswerV1,
    AlertKind,
    AlertRequestedV1,
    Answer,
    IdentityDecisionV1,
    OrgKind,
)
from services.router.deciding import CONFIRMED, DISPUTED, REFUTED
from services.router.disputes import dispute_id, dispute_match
from services.router.handlers import apply_decision, change_identity
from services.router.held_review import Candidate, HeldReview
from services.router.person_index import new_child_id
from services.runtime.handling import UnprocessableError
from tests.unit.fake_outbox import FakeOutbox
from tests.unit.router_fakes import ChildReview, MemoryDecisionStore
from tests.unit.test_router_policy import AT, NLD, ORGS, event

NOW = AT + timedelta(hours=1)
CHILD = new_child_id("10", "MP/1")
EARLIER = new_child_id("10", "MP/0")


def held(state: str = "pending", org_code: str = "100001") -> HeldReview:
    e = event("reported", child={"responsible_la": NLD})
    return HeldReview(
        review_id="rev-1",
        event_message_id=e.message_id,
        org_code=org_code,
        force_code=e.force_code,
        episode_ref=e.episode_ref,
        event_type=e.type.value,
        candidates=(Candidate("R1", 0.6), Candidate("R2", 0.5)),
        state=state,  # type: ignore[arg-type]
        created_at=AT,
        event_json=e.model_dump(mode="json"),
    )


def store(*reviews: HeldReview) -> MemoryDecisionStore:
    s = MemoryDecisionStore(organisations=dict(ORGS), reviews={r.review_id: r for r in reviews})
    s.link(CHILD, ("10", "MP/1"))
    return s


def decision(
    review_id: str = "rev-1", decided: str = "match", **changes: Any
) -> IdentityDecisionV1:
    values: dict[str, Any] = {
        "message_id": derived_id("decision", review_id, decided, str(changes)),
        "review_id": review_id,
        "decision": decided,
        "roll_record_id": "R2" if decided == "match" else None,
        "decided_by": "reviewer@council.example",
        "decided_at": AT + timedelta(minutes=30),
    }
    return IdentityDecisionV1(**{**values, **changes})


async def decide(s: MemoryDecisionStore, d: IdentityDecisionV1) -> FakeOutbox:
    out = FakeOutbox()
    await apply_decision(s, d, out, clock=lambda: NOW)
    return out


async def test_a_match_routes_the_held_event_to_the_organisation_once() -> None:
    s = store(held())
    out = await decide(s, decision())
    [alert] = out.on(ALERTS_REQUESTED, AlertRequestedV1)
    assert (alert.recipient.code, alert.kind, alert.roll_record_id) == (
        "100001",
        AlertKind.REPORTED,
        "R2",
    )
    assert (alert.child_id, alert.requested_at) == (CHILD, NOW)
    assert [key for _, key, _ in out.sent] == ["10:MP/1"]
    # The authority was told when the event arrived: not again.
    assert s.roll_links == {(("10", "MP/1"), "100001", "R2")}
    review = s.reviews["rev-1"]
    assert (review.state, review.roll_record_id, review.decided_by) == (
        "matched",
        "R2",
        "reviewer@council.example",
    )
    # A second decision (another reviewer): the first stands, nothing published.
    again = await decide(s, decision(decided="no-match"))
    assert again.sent == [] and s.reviews["rev-1"].state == "matched"


async def test_no_match_tells_nobody_and_links_nothing() -> None:
    s = store(held())
    out = await decide(s, decision(decided="no-match"))
    assert out.sent == [] and s.roll_links == set()
    assert (s.reviews["rev-1"].state, s.reviews["rev-1"].roll_record_id) == ("no-match", None)


@pytest.mark.parametrize(
    ("d", "why"),
    [
        (decision(roll_record_id="R9"), "roll record R9 is not one of its candidates"),
        (decision(roll_record_id=None), "a match must name one of its candidate roll records"),
        (decision("rev-unknown"), "no identity review rev-unknown"),
    ],
)
async def test_a_decision_that_cannot_apply_is_unprocessable(
    d: IdentityDecisionV1, why: str
) -> None:
    s = store(held())
    with pytest.raises(UnprocessableError, match=why):
        await decide(s, d)
    assert s.reviews["rev-1"].state == "pending"


async def test_a_match_for_an_organisation_gone_from_the_directory_is_unprocessable() -> None:
    s = store(held(org_code="100099"))
    with pytest.raises(UnprocessableError, match="100099 is no longer in the directory"):
        await decide(s, decision())
    assert s.reviews["rev-1"].state == "pending" and s.roll_links == set()


async def test_a_dispute_is_decided_once_and_publishes_nothing() -> None:
    s = store()
    s.disputes["dispute-1"] = ("100001", DISPUTED)
    out = await decide(s, decision("dispute-1", roll_record_id=None))
    assert out.sent == [] and s.disputes["dispute-1"] == ("100001", CONFIRMED)
    await decide(s, decision("dispute-1", "no-match"))
    assert s.disputes["dispute-1"] == ("100001", CONFIRMED)


async def test_a_same_child_match_merges_the_child_and_announces_its_episodes() -> None:
    s = store()
    s.link(EARLIER, ("10", "MP/0"))
    s.child_reviews["same-1"] = ChildReview(("10", "MP/1"), (EARLIER,))
    d = decision("same-1", roll_record_id=None, child_id=EARLIER)
    out = await decide(s, d)
    [moved] = out.on(CHILD_IDENTITIES, ChildIdentityV1)
    assert (moved.force_code, moved.episode_ref, moved.child_id, moved.revision) == (
        "10",
        "MP/1",
        EARLIER,
        2,
    )
    assert (moved.basis, moved.previous_child_id, moved.at) == (LinkBasis.REVIEWED, CHILD, NOW)
    assert [key for _, key, _ in out.sent] == ["10:MP/1"]
    assert s.child_reviews["same-1"].state == "matched"
    assert (await decide(s, d)).sent == []  # the first decision stands


async def test_a_same_child_match_naming_no_candidate_is_unprocessable() -> None:
    s = store()
    s.child_reviews["same-1"] = ChildReview(("10", "MP/1"), (EARLIER,))
    with pytest.raises(UnprocessableError, match="not a candidate"):
        await decide(s, decision("same-1", roll_record_id=None, child_id=CHILD))


def change(action: str, **changes: Any) -> ChildIdentityChangeV1:
    values: dict[str, Any] = {
        "message_id": f"change-{action}",
        "change_id": f"change-{action}",
        "action": action,
        "child_id": CHILD,
        "reason": "the same child, confirmed by the school",
        "requested_by": "analyst@council.example",
        "requested_at": AT,
    }
    return ChildIdentityChangeV1(**{**values, **changes})


async def test_a_merge_moves_every_episode_and_announces_each_once() -> None:
    s = store()
    s.link(CHILD, ("10", "MP/2"))
    s.link(EARLIER, ("10", "MP/0"))
    m = change("merge", into_child_id=EARLIER)
    out = FakeOutbox()
    await change_identity(s, m, out, clock=lambda: NOW)
    announced = out.on(CHILD_IDENTITIES, ChildIdentityV1)
    assert sorted((a.episode_ref, a.child_id, a.change_id) for a in announced) == [
        ("MP/1", EARLIER, m.change_id),
        ("MP/2", EARLIER, m.change_id),
    ]
    assert sorted(key for _, key, _ in out.sent) == ["10:MP/1", "10:MP/2"]
    assert s.episodes_of(CHILD) == []
    again = FakeOutbox()
    await change_identity(s, m, again, clock=lambda: NOW)
    assert again.sent == []


async def test_a_split_makes_a_new_child_of_the_named_episodes() -> None:
    s = store()
    s.link(CHILD, ("10", "MP/2"))
    m = change("split", episodes=[EpisodeKeyV1(force_code="10", episode_ref="MP/2")])
    out = FakeOutbox()
    await change_identity(s, m, out, clock=lambda: NOW)
    [moved] = out.on(CHILD_IDENTITIES, ChildIdentityV1)
    assert (moved.episode_ref, moved.child_id, moved.basis) == (
        "MP/2",
        m.new_child_id,
        LinkBasis.SPLIT,
    )
    assert s.episodes_of(CHILD) == [("10", "MP/1")]


async def test_a_change_the_index_refuses_is_unprocessable_and_announces_nothing() -> None:
    s = store()
    m = change("split", episodes=[EpisodeKeyV1(force_code="10", episode_ref="MP/1")])
    out = FakeOutbox()
    with pytest.raises(UnprocessableError, match="change change-split: a split must leave"):
        await change_identity(s, m, out, clock=lambda: NOW)
    assert out.sent == [] and s.episodes_of(CHILD) == [("10", "MP/1")]


def not_known(kind: OrgKind = OrgKind.SCHOOL, given: Answer = Answer.NOT_KNOWN) -> AlertAnswerV1:
    return AlertAnswerV1(
        message_id=derived_id("answer", kind.value, given.value),
        alert_id="alert-1",
        answer=given,
        answered_at=AT,
        force_code="10",
        episode_ref="MP/1",
        event_message_id="event-1",
        recipient_code="100001",
        recipient_kind=kind,
        recipient_name="Morpeth School",
        roll_record_id="R1",
    )


async def test_not_known_from_a_school_disputes_its_match_once() -> None:
    s = store()
    assert await dispute_match(s, not_known(), clock=lambda: NOW) is True
    assert s.disputes == {dispute_id("alert-1"): ("100001", DISPUTED)}
    assert await dispute_match(s, not_known(), clock=lambda: NOW) is False  # a replay
    assert len(s.disputes) == 1


@pytest.mark.parametrize(
    ("kind", "given"),
    [(OrgKind.LOCAL_AUTHORITY, Answer.NOT_KNOWN), (OrgKind.SCHOOL, Answer.HERE_NOW)],
)
async def test_an_answer_that_is_no_roll_match_dispute_keeps_nothing(
    kind: OrgKind, given: Answer
) -> None:
    s = store()
    assert await dispute_match(s, not_known(kind, given)) is False
    assert s.disputes == {}


async def test_a_refuted_dispute_stays_refuted() -> None:
    s = store()
    await dispute_match(s, not_known())
    review_id = dispute_id("alert-1")
    await decide(s, decision(review_id, "no-match"))
    await decide(s, decision(review_id, "match", roll_record_id=None))
    assert s.disputes[review_id] == ("100001", REFUTED)


def held_found(review_id: str, episode_ref: str, candidates: tuple[str, ...]) -> HeldReview:
    """A later event of the child held for the same school: ``found`` of ``episode_ref``."""
    e = event("found", child={"responsible_la": NLD}, episode_ref=episode_ref)
    return HeldReview(
        review_id=review_id,
        event_message_id=e.message_id,
        org_code="100001",
        force_code=e.force_code,
        episode_ref=e.episode_ref,
        event_type=e.type.value,
        candidates=tuple(Candidate(c, 0.5) for c in candidates),
        state="pending",
        created_at=AT + timedelta(minutes=5),
        event_json=e.model_dump(mode="json"),
    )


async def test_a_match_decides_the_childs_other_reviews_it_answers_and_routes_them() -> None:
    s = store(
        held(),
        held_found("rev-found", "MP/1", ("R2", "R1")),
        held_found("rev-next", "MP/2", ("R2",)),
        held_found("rev-without", "MP/2", ("R1",)),  # R2 not shown: still a person's
        held_found("rev-stranger", "MP/9", ("R2",)),  # another child's episode
    )
    s.link(CHILD, ("10", "MP/2"))
    s.link(EARLIER, ("10", "MP/9"))
    out = await decide(s, decision())
    alerts = out.on(ALERTS_REQUESTED, AlertRequestedV1)
    assert sorted((a.kind, a.roll_record_id, a.child_id) for a in alerts) == [
        (AlertKind.FOUND, "R2", CHILD),
        (AlertKind.FOUND, "R2", CHILD),
        (AlertKind.REPORTED, "R2", CHILD),
    ]
    states = {r.review_id: (r.state, r.roll_record_id, r.decided_by) for r in s.reviews.values()}
    by = "reviewer@council.example (review rev-1)"
    assert states == {
        "rev-1": ("matched", "R2", "reviewer@council.example"),
        "rev-found": ("matched", "R2", by),
        "rev-next": ("matched", "R2", by),
        "rev-without": ("pending", None, None),
        "rev-stranger": ("pending", None, None),
    }
    assert (("10", "MP/2"), "100001", "R2") in s.roll_links
    # The console's queue hears of each, as of a person's decision.
    published = out.on(IDENTITY_DECISIONS, IdentityDecisionV1)
    assert sorted((p.review_id, p.decision, p.roll_record_id, p.decided_by) for p in published) == [
        ("rev-found", "match", "R2", by),
        ("rev-next", "match", "R2", by),
    ]
    # Consumed back by the router: already decided, nothing more.
    assert (await decide(s, published[0])).sent == []


async def test_no_match_decides_the_reviews_of_candidates_the_person_saw_and_tells_nobody() -> None:
    s = store(
        held(),
        held_found("rev-found", "MP/1", ("R1",)),
        held_found("rev-new-row", "MP/1", ("R1", "R7")),  # R7 never shown
    )
    out = await decide(s, decision(decided="no-match"))
    [published] = out.on(IDENTITY_DECISIONS, IdentityDecisionV1)
    assert (published.review_id, published.decision) == ("rev-found", "no-match")
    assert out.on(ALERTS_REQUESTED, AlertRequestedV1) == [] and s.roll_links == set()
    assert {r.review_id: r.state for r in s.reviews.values()} == {
        "rev-1": "no-match",
        "rev-found": "no-match",
        "rev-new-row": "pending",
    }

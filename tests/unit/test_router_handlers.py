"""The router's episode-event handler (services/router/handlers.py) driven through the
in-memory store and outbox (tests/unit/router_fakes.py): what it publishes and keeps.
The SQL store and the consumer around it: tests/integration/test_router_*.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from schemas.base import derived_id
from schemas.catalogue import (
    ALERTS_REQUESTED,
    CHILD_IDENTITIES,
    IDENTITY_REVIEWS,
    RHI_TASKS_REQUESTED,
)
from schemas.child_identity import ChildIdentityV1
from schemas.episode import EpisodeEventV1
from schemas.messages import AlertKind, AlertRequestedV1, IdentityReviewV1, RhiTaskRequestedV1
from services.router.handlers import route_episode_event
from services.router.person_decisions import PersonDecision
from services.router.person_index import new_child_id
from services.router.policy import Policy, RhiTrigger
from services.runtime.handling import UnprocessableError
from tests.unit.fake_outbox import FakeOutbox
from tests.unit.router_fakes import MemoryRoutingStore
from tests.unit.test_router_matching import record
from tests.unit.test_router_policy import AT, NCL, NLD, ORGS, event

NOW = AT + timedelta(minutes=1)


def store(**changes: Any) -> MemoryRoutingStore:
    values: dict[str, Any] = {"organisations": dict(ORGS), "rolls": [record()]}
    values.update(changes)
    return MemoryRoutingStore(**values)


async def handle(
    s: MemoryRoutingStore, e: EpisodeEventV1, policy: Policy | None = None
) -> FakeOutbox:
    out = FakeOutbox()
    await route_episode_event(s, e, out, policy, clock=lambda: NOW)
    assert {key for _, key, _ in out.sent} <= {e.episode_key}
    return out


def alerts(out: FakeOutbox) -> dict[str, AlertRequestedV1]:
    return {a.recipient.code: a for a in out.on(ALERTS_REQUESTED, AlertRequestedV1)}


async def test_a_reported_child_on_a_school_roll_is_alerted_to_the_school_and_authority() -> None:
    s, e = store(), event("reported")
    out = await handle(s, e)
    sent = alerts(out)
    assert {code: a.policy_rule for code, a in sent.items()} == {
        "100001": "reported.school",
        NLD: "reported.la",
    }
    school = sent["100001"]
    assert school.alert_id == school.message_id == derived_id(e.message_id, "100001", "reported")
    assert (school.kind, school.roll_record_id, school.reason) == (
        AlertKind.REPORTED,
        "R1",
        "on the school roll",
    )
    assert school.authority is not None and school.authority.code == NLD
    assert (school.child.given_name, school.episode.episode_ref) == ("Zoë", "MP/1")
    assert school.requested_at == NOW
    # The episode's new child, announced and named on every alert.
    [link] = out.on(CHILD_IDENTITIES, ChildIdentityV1)
    assert link.child_id == new_child_id("10", "MP/1") and link.revision == 1
    assert {a.child_id for a in sent.values()} == {link.child_id}
    assert out.on(IDENTITY_REVIEWS, IdentityReviewV1) == []
    assert out.on(RHI_TASKS_REQUESTED, RhiTaskRequestedV1) == []
    # The episode counts in the child's history; the roll record is linked.
    assert set(s.reported) == {("10", "MP/1")}
    assert (("10", "MP/1"), "100001", "R1") in s.roll_links


async def test_a_withdrawn_episode_asks_the_authority_only_and_leaves_the_history() -> None:
    s = store()
    await handle(s, event("reported"))
    out = await handle(s, event("withdrawn", event_id="ev-2", reason="raised in error"))
    sent = alerts(out)
    assert {code: (a.kind, a.policy_rule) for code, a in sent.items()} == {
        NLD: (AlertKind.WITHDRAWN, "withdrawn.la")
    }
    assert sent[NLD].reason == "episode withdrawn by the police"
    # The episode keeps its child (nothing announced again) but no longer counts.
    assert out.on(CHILD_IDENTITIES, ChildIdentityV1) == []
    assert sent[NLD].child_id == new_child_id("10", "MP/1")
    assert s.reported == {} and ("10", "MP/1") in s.withdrawn


async def test_a_doubtful_match_is_held_as_a_review_and_only_the_authority_told() -> None:
    # Two pupils of the same name and birth date at the school: which one, a person says.
    s = store(rolls=[record(), record(record_id="R2")])
    e = event("reported", child={"responsible_la": NLD})
    out = await handle(s, e)
    assert {code: a.policy_rule for code, a in alerts(out).items()} == {NLD: "reported.la"}
    [review] = out.on(IDENTITY_REVIEWS, IdentityReviewV1)
    assert review.review_id == derived_id(e.message_id, "100001", "review")
    assert [(c.org_code, c.roll_record_id) for c in review.candidates] == [
        ("100001", "R1"),
        ("100001", "R2"),
    ]
    assert review.child_id == new_child_id("10", "MP/1")
    assert s.held[review.review_id] == (review, e)
    # A replay holds nothing new (the review is published again, its id the same).
    again = await handle(s, e)
    assert [r.review_id for r in again.on(IDENTITY_REVIEWS, IdentityReviewV1)] == [review.review_id]
    assert len(s.held) == 1


async def test_a_disputed_school_match_is_a_review_again() -> None:
    s = store()
    s.dispute("10", "MP/1", "100001")
    out = await handle(s, event("still-missing", child={"responsible_la": NLD}))
    assert set(alerts(out)) == {NLD}
    [review] = out.on(IDENTITY_REVIEWS, IdentityReviewV1)
    assert [c.roll_record_id for c in review.candidates] == ["R1"]


async def test_a_review_a_person_decided_for_the_child_is_not_held_again() -> None:
    # Twin rows: a person said the child is R2. The episode's next event goes to the
    # school on R2, as the person decided, with nothing held.
    s = store(rolls=[record(), record(record_id="R2")])
    child = new_child_id("10", "MP/1")
    s.decided[child] = [PersonDecision("100001", "R2", frozenset({"R1", "R2"}), "rev-1", AT)]
    out = await handle(s, event("found", child={"responsible_la": NLD}))
    assert out.on(IDENTITY_REVIEWS, IdentityReviewV1) == [] and s.held == {}
    school = alerts(out)["100001"]
    assert (school.policy_rule, school.roll_record_id) == ("found.school", "R2")
    assert (("10", "MP/1"), "100001", "R2") in s.roll_links
    # Had the school disputed the episode's match, a person decides that first.
    disputed = store(rolls=[record(), record(record_id="R2")], decided=dict(s.decided))
    disputed.dispute("10", "MP/1", "100001")
    out = await handle(disputed, event("found", child={"responsible_la": NLD}))
    assert set(alerts(out)) == {NLD} and len(out.on(IDENTITY_REVIEWS, IdentityReviewV1)) == 1


async def test_an_event_no_authority_can_take_is_unprocessable() -> None:
    orgs = {c: o for c, o in ORGS.items() if c not in {NLD, NCL}}
    s = store(organisations=orgs)
    out = FakeOutbox()
    with pytest.raises(UnprocessableError, match="no responsible local authority"):
        await route_episode_event(s, event("reported"), out, clock=lambda: NOW)
    assert alerts(out) == {}


async def test_the_third_episode_in_90_days_flags_repeat_missing_once() -> None:
    s, child = store(rolls=[]), {"responsible_la": NLD}

    def reported(ref: str, days: int) -> EpisodeEventV1:
        at = (AT + timedelta(days=days)).isoformat()
        return event("reported", episode_ref=ref, occurred_at=at, child=child)

    async def repeats(e: EpisodeEventV1) -> list[str]:
        sent = alerts(await handle(s, e)).values()
        return [a.recipient.code for a in sent if a.kind is AlertKind.REPEAT_MISSING]

    assert await repeats(reported("MP/1", -60)) == []
    assert await repeats(reported("MP/2", -20)) == []
    assert await repeats(reported("MP/3", 0)) == ["MSET-NLD"]
    assert s.reported[("10", "MP/3")][1] is True
    # The same episode reported again under a new event: not flagged again.
    assert await repeats(reported("MP/3", 0)) == []
    assert len(set(s.children.values())) == 1


async def test_under_the_found_trigger_a_returned_after_found_opens_the_task_once() -> None:
    policy = Policy(rhi_trigger=RhiTrigger.FOUND, rhi_found_wait_hours=12)
    s = store()
    found = await handle(s, event("found", event_id="ev-2"), policy)
    assert found.on(RHI_TASKS_REQUESTED, RhiTaskRequestedV1) == []
    [(state, awaited)] = s.awaiting.values()
    assert state == "waiting" and awaited is not None
    assert awaited.open_at == AT + timedelta(hours=12)
    # Returned before the wait is over: its own task goes out, the waiting one never.
    returned = await handle(s, event("returned", event_id="ev-3"), policy)
    [task] = returned.on(RHI_TASKS_REQUESTED, RhiTaskRequestedV1)
    assert task.authority.code == NLD
    assert s.open_due(AT + timedelta(days=1)) == []


async def test_under_the_found_trigger_a_returned_after_the_opened_task_opens_none() -> None:
    policy = Policy(rhi_trigger=RhiTrigger.FOUND, rhi_found_wait_hours=12)
    s = store()
    await handle(s, event("found", event_id="ev-2"), policy)
    [opened] = s.open_due(AT + timedelta(hours=12))
    assert opened.task.authority.code == NLD
    returned = await handle(s, event("returned", event_id="ev-3"), policy)
    assert returned.on(RHI_TASKS_REQUESTED, RhiTaskRequestedV1) == []
    assert set(alerts(returned)) == {"100001", NLD}


async def test_a_withdrawn_episode_never_opens_its_waiting_task() -> None:
    policy = Policy(rhi_trigger=RhiTrigger.FOUND, rhi_found_wait_hours=12)
    s = store()
    await handle(s, event("found", event_id="ev-2"), policy)
    await handle(s, event("withdrawn", event_id="ev-3", reason="raised in error"), policy)
    assert s.open_due(AT + timedelta(days=1)) == []
    assert [state for state, _ in s.awaiting.values()] == ["withdrawn"]

"""Thin consumers: one message in, one use case, publish through the outbox."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.base import derived_id
from schemas.catalogue import (
    ALERTS_REQUESTED,
    CHILD_IDENTITIES,
    IDENTITY_DECISIONS,
    IDENTITY_REVIEWS,
    RHI_TASKS_REQUESTED,
)
from schemas.child_identity import ChildIdentityChangeV1, ChildIdentityV1, LinkBasis
from schemas.episode import EpisodeEventV1, EventType
from schemas.messages import AlertRequestedV1, IdentityDecisionV1, RhiTaskRequestedV1
from services.router import person_decisions, person_moves, review_store
from services.router.deciding import LOCAL_TIME as LOCAL_TIME
from services.router.deciding import EpisodeFacts, decide_episode, decide_match, identify
from services.router.decision_store import DecisionStore
from services.router.held_review import HeldReview
from services.router.matching import MatchDecision
from services.router.model import MatchingModel
from services.router.policy import (
    History,
    NoResponsibleAuthorityError,
    Policy,
    RhiTrigger,
    RoutingPlan,
)
from services.router.routing_store import Linked, RoutingStore
from services.router.sql_decision_store import SqlDecisionStore
from services.router.sql_routing_store import SqlRoutingStore
from services.router.weights import BASELINE
from services.runtime.database import utcnow
from services.runtime.hand_over import in_one_hand_over
from services.runtime.handling import Outbox, Publisher, UnprocessableError, at_commit

log = logging.getLogger(__name__)


async def on_episode_event(
    session: AsyncSession,
    event: EpisodeEventV1,
    out: Outbox,
    policy: Policy | None = None,
    model: MatchingModel | None = None,
) -> None:
    """:func:`route_episode_event` in the consumer's transaction, its messages written at
    the commit (one statement), its statements in one hand-over to the session's
    synchronous side (services/runtime/hand_over.py: the marked ones on the driver,
    issue 18). ``model``: the router's loaded matching model (app.py); tests may leave
    it out for the hand-set one."""
    # The messages' rows are held in the transaction's session.info (the same dict
    # seen through ``core``) and written at the commit.
    published = at_commit(out)
    await in_one_hand_over(
        session,
        lambda core: route_episode_event(SqlRoutingStore(core), event, published, policy, model),
    )


async def route_episode_event(
    store: RoutingStore,
    event: EpisodeEventV1,
    out: Publisher,
    policy: Policy | None = None,
    model: MatchingModel | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Load, decide (services/router/deciding.py), persist and publish."""
    policy = policy or Policy()
    model = await store.matching_model(model or BASELINE)
    disputes = await store.dispute_states(event.force_code, event.episode_ref)
    decisions = identify(event, await store.candidates(event.child), disputes, model)
    linked = await store.link_episode(event, decisions, clock(), model)
    decisions = await _follow_person_decisions(store, event, decisions, disputes, linked)
    await _announce(out, linked.announcements)
    if linked.review is not None:
        await out.publish(IDENTITY_REVIEWS, event.episode_key, linked.review)
    await _remember_episode(store, event)
    facts = await _episode_facts(store, event, decisions, linked.child_id)
    try:
        plan = decide_episode(event, facts, policy, clock())
    except NoResponsibleAuthorityError as exc:
        raise UnprocessableError(str(exc)) from exc
    await _carry_out(store, event, plan, out, policy, clock)
    # Ids only: never the child's details.
    log.info(
        "router: event %s (%s) child %s -> %d alert(s), %d RHI task(s), %d review(s)",
        event.message_id,
        event.type.value,
        linked.child_id,
        len(plan.alerts),
        len(plan.rhi_tasks),
        len(plan.reviews) + (linked.review is not None),
    )


async def _follow_person_decisions(
    store: RoutingStore,
    event: EpisodeEventV1,
    decisions: list[MatchDecision],
    disputes: dict[str, str],
    linked: Linked,
) -> list[MatchDecision]:
    """What people decided of this child at organisations, applied
    (services/router/person_decisions.py): reviews they answered settled, the matches
    that makes linked in the person index as a person's decision is, and matches of a
    record they ruled out sent to a person. The store is asked only when that could
    change something."""
    new_child = any(a.basis is LinkBasis.NEW for a in linked.announcements)
    if not person_decisions.needs_person_decisions(decisions, new_child):
        return decisions
    earlier = await store.person_decisions(linked.child_id)
    if not earlier:
        return decisions
    latest = person_decisions.latest_by_organisation(earlier)
    followed = person_decisions.follow(decisions, latest, disputes)
    matched = person_decisions.newly_matched(decisions, followed)
    if matched:
        await store.add_roll_links(event.force_code, event.episode_ref, matched)
    for d, f in zip(decisions, followed, strict=True):
        if f.decision != d.decision and f.explanation.get("decided_in"):  # ids only
            log.info(
                "router: event %s: %s record %s %s -> %s as decided in review %s",
                event.message_id,
                f.org_code,
                f.roll_record_id,
                d.decision,
                f.decision,
                f.explanation["decided_in"],
            )
    return followed


async def _remember_episode(store: RoutingStore, event: EpisodeEventV1) -> None:
    """The child's repeat-missing history: a reported episode counts; one withdrawn
    (raised in error or for the wrong child) no longer does."""
    if event.type is EventType.WITHDRAWN:
        await store.forget_episode(event.force_code, event.episode_ref)
    if event.type is EventType.REPORTED:
        await store.record_reported(event.force_code, event.episode_ref, event.occurred_at)


async def _episode_facts(
    store: RoutingStore,
    event: EpisodeEventV1,
    decisions: list[MatchDecision],
    child_id: str,
) -> EpisodeFacts:
    reported_at, flagged = await store.reported_history(
        child_id, event.force_code, event.episode_ref
    )
    organisations = await store.organisations_for_routing({d.org_code for d in decisions})
    return EpisodeFacts(decisions, child_id, History(reported_at, flagged), organisations)


async def _carry_out(
    store: RoutingStore,
    event: EpisodeEventV1,
    plan: RoutingPlan,
    out: Publisher,
    policy: Policy,
    clock: Callable[[], datetime],
) -> None:
    for alert in plan.alerts:
        await out.publish(ALERTS_REQUESTED, event.episode_key, alert)
    for task in await _tasks_to_open(store, event, plan.rhi_tasks, policy, clock):
        await out.publish(RHI_TASKS_REQUESTED, event.episode_key, task)
    for awaited in plan.awaiting_return:
        await store.await_return(awaited, clock())
    for review in plan.reviews:
        # Held until a person decides (on_identity_decision); only the organisation
        # waits: the responsible authority was told above.
        await store.hold_review(review, event, clock())
        await out.publish(IDENTITY_REVIEWS, event.episode_key, review)
    if plan.flags_repeat:
        await store.mark_repeat_flagged(event.force_code, event.episode_ref)


async def _tasks_to_open(
    store: RoutingStore,
    event: EpisodeEventV1,
    tasks: list[RhiTaskRequestedV1],
    policy: Policy,
    clock: Callable[[], datetime],
) -> list[RhiTaskRequestedV1]:
    """The RHI tasks of ``event`` that go out: none for a ``returned`` whose episode had
    its task opened from ``found`` already (services/router/awaiting_return.py)."""
    if event.type is EventType.WITHDRAWN:
        await store.withdraw_awaited(event.force_code, event.episode_ref, clock())
    if event.type is not EventType.RETURNED:
        return tasks
    opens = await store.returned(
        event.force_code,
        event.episode_ref,
        clock(),
        remember=policy.rhi_trigger is RhiTrigger.FOUND,
    )
    return tasks if opens else []


async def _announce(out: Publisher, links: Iterable[ChildIdentityV1]) -> None:
    for link in links:
        await out.publish(CHILD_IDENTITIES, f"{link.force_code}:{link.episode_ref}", link)


async def on_child_identity_change(
    session: AsyncSession, change: ChildIdentityChangeV1, out: Outbox
) -> None:
    await change_identity(SqlDecisionStore(session), change, at_commit(out))


async def change_identity(
    store: DecisionStore,
    change: ChildIdentityChangeV1,
    out: Publisher,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """A person merged two children or split episodes off one (the console checked the
    request; this checks it again against the index as it is now)."""
    try:
        moved = await store.apply_change(change, clock())
    except person_moves.RefusedChangeError as exc:
        raise UnprocessableError(f"change {change.change_id}: {exc}") from exc
    await _announce(out, moved)
    log.info(
        "router: %s %s of child %s by %s: %d episode(s) moved",
        change.action,
        change.change_id,
        change.child_id,
        change.requested_by,
        len(moved),
    )


async def on_identity_decision(
    session: AsyncSession, decision: IdentityDecisionV1, out: Outbox
) -> None:
    await apply_decision(SqlDecisionStore(session), decision, at_commit(out))


async def apply_decision(
    store: DecisionStore,
    decision: IdentityDecisionV1,
    out: Publisher,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """A person decided a review: ``match`` routes the held event to the organisation,
    as :func:`route` would have had the child matched; ``no-match`` tells nobody.

    The child's other reviews at that organisation which the decision answers are
    decided with it (:func:`_answered_alike`, their events routed in the order they
    happened), and its later events follow it (:func:`_follow_person_decisions`).
    """
    if await store.is_child_review(decision.review_id):
        await _decide_same_child(store, decision, out, clock)
        return
    held = await store.held_review(decision.review_id)
    if held is None and await store.is_dispute(decision.review_id):
        await _decide_dispute(store, decision, out, clock)
        return
    if held is not None and held.state != "pending":
        # A second decision (another reviewer, a replay): the first stands.
        log.info(
            "router: review %s already %s; decision %s ignored",
            held.review_id,
            held.state,
            decision.message_id,
        )
        return
    refused = review_store.refusal(
        held, decision.review_id, decision.decision, decision.roll_record_id
    )
    if refused is not None or held is None:
        raise UnprocessableError(refused or f"no identity review {decision.review_id}")
    match = decision.decision == "match"
    event = held.event()
    person = person_decisions.PersonDecision(
        held.org_code,
        decision.roll_record_id if match else None,
        frozenset(c.roll_record_id for c in held.candidates),
        held.review_id,
        decision.decided_at,
    )
    child_id = await store.child_of(event.force_code, event.episode_ref)
    alike = await _answered_alike(store, child_id, person)
    released = await _release_in_order(store, [held, *alike], decision, out, clock) if match else {}
    await _record(store, decision)
    log.info(
        "router: review %s decided %s (record %s) -> %d alert(s)",
        held.review_id,
        decision.decision,
        decision.roll_record_id or "-",
        released.get(held.review_id, 0),
    )
    await _decide_alike(store, alike, person, decision, out, released)


async def _record(store: DecisionStore, decision: IdentityDecisionV1) -> None:
    """``decision`` kept on its review (a person's, or one decided with it)."""
    await store.decide_review(
        decision.review_id,
        "matched" if decision.decision == "match" else "no-match",
        decision.roll_record_id,
        decision.decided_by,
        decision.decided_at,
    )


async def _answered_alike(
    store: DecisionStore, child_id: str | None, person: person_decisions.PersonDecision
) -> list[HeldReview]:
    """The child's other pending reviews at ``person``'s organisation that the decision
    answers (services/router/person_decisions.py ``settles``): the ``found`` held while
    its ``reported`` waited for a person, an episode since."""
    if child_id is None:
        return []
    return [
        other
        for other in await store.pending_reviews_of_child(child_id, person.org_code)
        if other.review_id != person.review_id
        and person_decisions.settles(person, [c.roll_record_id for c in other.candidates])
    ]


async def _release_in_order(
    store: DecisionStore,
    held: list[HeldReview],
    decision: IdentityDecisionV1,
    out: Publisher,
    clock: Callable[[], datetime],
) -> dict[str, int]:
    """The held events of a ``match``, routed in the order they happened (a ``found``
    after its ``reported``, whichever review was decided: the notifier then stands the
    earlier alert down rather than send "missing" after "found"); review id -> alerts."""
    ordered = sorted(held, key=lambda r: (r.event().occurred_at, r.created_at, r.review_id))
    return {r.review_id: len(await _release(store, r, decision, out, clock)) for r in ordered}


async def _decide_alike(
    store: DecisionStore,
    alike: list[HeldReview],
    person: person_decisions.PersonDecision,
    decision: IdentityDecisionV1,
    out: Publisher,
    released: dict[str, int],
) -> None:
    """``alike`` (:func:`_answered_alike`) decided as ``decision`` (their events routed
    already, :func:`_release_in_order`), each decision published for the console's
    queue."""
    match = decision.decision == "match"
    for other in alike:
        settled = IdentityDecisionV1(
            message_id=derived_id(decision.message_id, other.review_id, "alike"),
            review_id=other.review_id,
            decision=decision.decision,
            roll_record_id=decision.roll_record_id if match else None,
            decided_by=f"{decision.decided_by} (review {person.review_id})"[:200],
            decided_at=decision.decided_at,
        )
        await _record(store, settled)
        # The console's queue learns it as it learns a person's (the router finds the
        # review decided when the message comes back, and leaves it).
        await out.publish(IDENTITY_DECISIONS, other.review_id, settled)
        log.info(
            "router: review %s decided %s with review %s -> %d alert(s)",
            other.review_id,
            decision.decision,
            person.review_id,
            released.get(other.review_id, 0),
        )


async def _decide_same_child(
    store: DecisionStore,
    decision: IdentityDecisionV1,
    out: Publisher,
    clock: Callable[[], datetime],
) -> None:
    try:
        moved = await store.decide_child_review(decision, clock())
    except person_moves.RefusedChangeError as exc:
        raise UnprocessableError(str(exc)) from exc
    await _announce(out, moved)
    log.info(
        "router: same-child review %s decided %s -> %d episode(s) moved",
        decision.review_id,
        decision.decision,
        len(moved),
    )


async def _decide_dispute(
    store: DecisionStore,
    decision: IdentityDecisionV1,
    out: Publisher,
    clock: Callable[[], datetime],
) -> None:
    """A person decided an organisation's "we do not know this child": confirmed, the
    match stands again; refuted, the record is not the child's. Either way the child's
    pending reviews there that it answers are decided with it (:func:`_answered_alike`)."""
    decided = await store.decide_dispute(
        decision.review_id,
        decision.decision == "match",
        decision.decided_by,
        decision.decided_at,
    )
    log.info(
        "router: dispute %s %s by decision %s",
        decision.review_id,
        f"decided {decision.decision}" if decided else "already decided; kept",
        decision.message_id,
    )
    disputed = await store.dispute(decision.review_id) if decided else None
    if disputed is None or disputed.roll_record_id is None:
        return
    match = decision.decision == "match"
    record = disputed.roll_record_id
    person = person_decisions.PersonDecision(
        disputed.org_code,
        record if match else None,
        frozenset({record}),
        decision.review_id,
        decision.decided_at,
    )
    child_id = await store.child_of(disputed.force_code, disputed.episode_ref)
    settled = decision.model_copy(update={"roll_record_id": record if match else None})
    alike = await _answered_alike(store, child_id, person)
    released = await _release_in_order(store, alike, settled, out, clock) if match else {}
    await _decide_alike(store, alike, person, settled, out, released)


async def _release(
    store: DecisionStore,
    held: HeldReview,
    decision: IdentityDecisionV1,
    out: Publisher,
    clock: Callable[[], datetime],
) -> list[AlertRequestedV1]:
    """A ``match``: load, decide (:func:`decide_match`), link the record, publish."""
    assert decision.roll_record_id is not None  # refusal() checked it
    event = held.event()
    organisations = await store.organisations_for_routing({held.org_code})
    if held.org_code not in organisations:
        raise UnprocessableError(
            f"review {held.review_id}: organisation {held.org_code} is no longer in the directory"
        )
    child_id = await store.child_of(event.force_code, event.episode_ref)
    alerts = decide_match(
        event, held.org_code, decision.roll_record_id, organisations, child_id, clock()
    )
    # The person's match is as good as the matcher's: the same record is the same child.
    await store.add_roll_links(
        event.force_code, event.episode_ref, [(held.org_code, decision.roll_record_id)]
    )
    for alert in alerts:
        await out.publish(ALERTS_REQUESTED, event.episode_key, alert)
    return alerts

"""Thin consumers: one message in, one use case, publish through the outbox."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.catalogue import ALERTS_REQUESTED, IDENTITY_REVIEWS, RHI_TASKS_REQUESTED
from schemas.episode import EpisodeEventV1, EventType
from schemas.messages import IdentityDecisionV1
from services.router import disputes, repository, review_store
from services.router.matching import child_key, match_child
from services.router.policy import (
    History,
    NoResponsibleAuthorityError,
    Policy,
    route,
    route_decided,
)
from services.runtime.database import utcnow
from services.runtime.handling import Outbox, UnprocessableError

log = logging.getLogger(__name__)

# Rolls are kept in local dates: "on roll on that date" is the date in England and Wales.
LOCAL_TIME = ZoneInfo("Europe/London")


async def on_episode_event(
    session: AsyncSession, event: EpisodeEventV1, out: Outbox, policy: Policy | None = None
) -> None:
    policy = policy or Policy()
    candidates = await repository.candidates(session, event.child)
    decisions = disputes.apply(
        match_child(event.child, candidates, event.occurred_at.astimezone(LOCAL_TIME).date()),
        await disputes.states_for_episode(session, event.force_code, event.episode_ref),
    )
    key = child_key(event.child)
    if event.type is EventType.WITHDRAWN:
        # Raised in error or for the wrong child: it no longer counts towards the
        # child's repeat-missing history.
        await repository.forget_episode(session, event.force_code, event.episode_ref)
    if event.type is EventType.REPORTED:
        await repository.record_reported(
            session, event.force_code, event.episode_ref, key, event.occurred_at
        )
    reported_at, flagged = await repository.reported_history(
        session, key, event.force_code, event.episode_ref
    )
    organisations = await repository.organisations_for_routing(
        session, {d.org_code for d in decisions}
    )
    try:
        plan = route(
            event, decisions, organisations, History(reported_at, flagged), policy, now=utcnow()
        )
    except NoResponsibleAuthorityError as exc:
        raise UnprocessableError(str(exc)) from exc
    for alert in plan.alerts:
        await out.publish(ALERTS_REQUESTED, event.episode_key, alert)
    for task in plan.rhi_tasks:
        await out.publish(RHI_TASKS_REQUESTED, event.episode_key, task)
    for review in plan.reviews:
        # Held until a person decides (on_identity_decision); only the organisation
        # waits: the responsible authority was told above.
        await review_store.hold(session, review, event, now=utcnow())
        await out.publish(IDENTITY_REVIEWS, event.episode_key, review)
    if plan.flags_repeat:
        await repository.mark_repeat_flagged(session, event.force_code, event.episode_ref)
    # Ids only: never the child's details.
    log.info(
        "router: event %s (%s) -> %d alert(s), %d RHI task(s), %d review(s)",
        event.message_id,
        event.type.value,
        len(plan.alerts),
        len(plan.rhi_tasks),
        len(plan.reviews),
    )


async def on_identity_decision(
    session: AsyncSession, decision: IdentityDecisionV1, out: Outbox
) -> None:
    """A person decided a review: ``match`` routes the held event to the organisation,
    as :func:`route` would have had the child matched; ``no-match`` tells nobody.

    Only the held event is routed. Later events of the same episode that were held for
    the same organisation are reviews of their own.
    """
    held = await review_store.get(session, decision.review_id, for_update=True)
    if held is None and await disputes.is_dispute(session, decision.review_id):
        decided = await disputes.decide(
            session,
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
    alerts = []
    if decision.decision == "match":
        assert decision.roll_record_id is not None  # refusal() checked it
        event = held.event()
        organisations = await repository.organisations_for_routing(session, {held.org_code})
        if held.org_code not in organisations:
            raise UnprocessableError(
                f"review {held.review_id}: organisation {held.org_code} is no longer in "
                "the directory"
            )
        alerts = route_decided(
            event, held.org_code, decision.roll_record_id, organisations, now=utcnow()
        )
        for alert in alerts:
            await out.publish(ALERTS_REQUESTED, event.episode_key, alert)
    await review_store.decide(
        session,
        held.review_id,
        "matched" if decision.decision == "match" else "no-match",
        decision.roll_record_id,
        decision.decided_by,
        decision.decided_at,
    )
    log.info(
        "router: review %s decided %s (record %s) -> %d alert(s)",
        held.review_id,
        decision.decision,
        decision.roll_record_id or "-",
        len(alerts),
    )

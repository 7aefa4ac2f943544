"""Thin consumers: one message in, one use case, publish through the outbox."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from schemas.catalogue import ALERTS_REQUESTED, IDENTITY_REVIEWS, RHI_TASKS_REQUESTED
from schemas.episode import EpisodeEventV1, EventType
from services.router import repository
from services.router.matching import child_key, match_child
from services.router.policy import History, NoResponsibleAuthorityError, Policy, route
from services.runtime.consumer import Outbox, UnprocessableError
from services.runtime.database import utcnow

log = logging.getLogger(__name__)

# Rolls are kept in local dates: "on roll on that date" is the date in England and Wales.
LOCAL_TIME = ZoneInfo("Europe/London")


async def on_episode_event(
    session: AsyncSession, event: EpisodeEventV1, out: Outbox, policy: Policy | None = None
) -> None:
    policy = policy or Policy()
    candidates = await repository.candidates(session, event.child)
    decisions = match_child(
        event.child, candidates, event.occurred_at.astimezone(LOCAL_TIME).date()
    )
    key = child_key(event.child)
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

"""What each message the console consumes writes to its read model (pure: the rows of
services/console/projections.py, alert_rows.py and rhi_rows.py, written to a
:class:`~services.console.projection_store.ConsoleProjection`). The consumer's
handlers (services/console/handlers.py) run these over the SQL projection; the unit
tests over an in-memory one."""

from __future__ import annotations

from datetime import datetime

from schemas.child_identity import ChildIdentityV1
from schemas.episode import EpisodeEventV1
from schemas.messages import (
    AlertRequestedV1,
    AlertStatusV1,
    DeadLetterV1,
    IdentityDecisionV1,
    IdentityReviewV1,
    IngestRejectedV1,
    RhiTaskRequestedV1,
    RhiTaskStatusV1,
)
from schemas.rhi_record import RhiTaskOutcomeV2
from services.console import alert_rows, projections, rhi_rows
from services.console.projection_store import ConsoleProjection


def _key(message: AlertRequestedV1 | RhiTaskRequestedV1 | IdentityReviewV1) -> str:
    return projections.episode_key(message.episode.force_code, message.episode.episode_ref)


async def episode_event(model: ConsoleProjection, message: EpisodeEventV1) -> None:
    await model.record_event(
        projections.event_row(message), message.force_code, message.episode_ref
    )
    await model.follow_link(message.episode_key)


async def alert_requested(
    model: ConsoleProjection, message: AlertRequestedV1, now: datetime
) -> None:
    await model.request_alert(
        projections.episode_placeholder(message, now),
        projections.episode_authority(message),
        message.child_id,
        alert_rows.alert_request_row(message),
    )


async def alert_status(model: ConsoleProjection, message: AlertStatusV1) -> None:
    await model.alert_status(
        alert_rows.alert_from_status(message), alert_rows.alert_state_row(message)
    )


async def rhi_task_requested(
    model: ConsoleProjection, message: RhiTaskRequestedV1, now: datetime
) -> None:
    await model.add_episode(projections.episode_placeholder(message, now))
    await model.update_episode(message, projections.episode_authority(message))
    await model.adopt_child(_key(message), message.child_id)
    await model.save_rhi_task(rhi_rows.rhi_request_row(message))


async def rhi_task_status(model: ConsoleProjection, message: RhiTaskStatusV1) -> None:
    row = rhi_rows.rhi_status_row(message)
    current = await model.rhi_task_state(message.task_id)
    if current is None or rhi_rows.rhi_status_is_newer(
        current["state"], current["state_at"], message
    ):
        await model.save_rhi_task(row)


async def rhi_task_outcome(model: ConsoleProjection, message: RhiTaskOutcomeV2) -> None:
    """A record made elsewhere (``relay tasks complete``), or the console's own again."""
    await model.keep_rhi_record(message)


async def identity_review(model: ConsoleProjection, message: IdentityReviewV1) -> None:
    await model.save_review(projections.review_row(message))
    await model.adopt_child(_key(message), message.child_id)


async def child_identity(model: ConsoleProjection, message: ChildIdentityV1) -> None:
    previous = message.previous_child_id
    if previous and previous != message.child_id:
        # Whether the previous child has episodes left counts the episodes' children,
        # which the batch's alerts may be about to set.
        await model.flush_alerts()
    await model.record_link(projections.child_link_row(message))


async def identity_decision(model: ConsoleProjection, message: IdentityDecisionV1) -> None:
    await model.save_review(projections.decision_row(message))


async def ingest_rejected(model: ConsoleProjection, message: IngestRejectedV1) -> None:
    await model.keep_reject(projections.reject_row(message))


async def dead_letter(model: ConsoleProjection, message: DeadLetterV1, dlq_topic: str) -> None:
    await model.keep_dead_letter(projections.dead_letter_row(message, dlq_topic))

"""Thin handlers: one message in, one use case, statuses out through the outbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.messages import (
    AcknowledgementV1,
    AlertRequestedV1,
    AlertState,
    RhiTaskOutcomeV1,
    RhiTaskRequestedV1,
    RhiTaskState,
)
from services.notifier import repository
from services.notifier.statuses import publish_alert_status, publish_task_status
from services.notifier.tasks import state_for_outcome
from services.runtime.consumer import Outbox, UnprocessableError
from services.runtime.database import utcnow

Clock = Callable[[], datetime]


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run ``callback`` once this session's transaction has committed (not before: the
    scheduler must be able to see the row it is woken for)."""
    event.listen(session.sync_session, "after_commit", lambda _s: callback(), once=True)


async def on_alert_requested(
    session: AsyncSession,
    message: AlertRequestedV1,
    out: Outbox,
    *,
    now: Clock = utcnow,
    wake: Callable[[], None] | None = None,
) -> None:
    at = now()
    if not await repository.insert_alert(session, message, at):
        return  # the same alert again (a replay, or the same facts under another id)
    alert = await repository.get_alert(session, message.alert_id)
    await publish_alert_status(out, alert, AlertState.QUEUED, at)
    if wake is not None:
        after_commit(session, wake)


async def on_rhi_task_requested(
    session: AsyncSession,
    message: RhiTaskRequestedV1,
    out: Outbox,
    *,
    now: Clock = utcnow,
) -> None:
    at = now()
    if not await repository.insert_task(session, message, at):
        return
    task = await repository.get_task(session, message.task_id)
    await publish_task_status(out, task, RhiTaskState.OPEN, at)


async def on_acknowledgement(
    session: AsyncSession,
    message: AcknowledgementV1,
    out: Outbox,
    *,
    now: Clock = utcnow,
) -> None:
    alert = await repository.get_alert(session, message.alert_id)
    if alert is None:
        raise UnprocessableError(f"acknowledgement for unknown alert {message.alert_id}")
    if not await repository.acknowledge(
        session, message.alert_id, message.acknowledged_at, message.by, now()
    ):
        return
    await publish_alert_status(out, alert, AlertState.ACKNOWLEDGED, now(), attempt=alert.attempts)


async def on_rhi_task_outcome(
    session: AsyncSession,
    message: RhiTaskOutcomeV1,
    out: Outbox,
    *,
    now: Clock = utcnow,
) -> None:
    if not await repository.record_outcome(session, message, now()):
        raise UnprocessableError(f"outcome for unknown RHI task {message.task_id}")
    task = await repository.get_task(session, message.task_id)
    state = state_for_outcome(message.outcome)
    # The reason may hold personal detail; the console has it from the outcome itself.
    await publish_task_status(
        out,
        task,
        state,
        now(),
        note=f"outcome {state.value} recorded by {message.recorded_by}",
        discriminator=message.message_id,
    )

"""The status messages the notifier publishes (``alert-status``, ``rhi-task-status``),
with deterministic ids so a repeat is de-duplicated by consumers."""

from __future__ import annotations

from datetime import datetime

from schemas.base import derived_id
from schemas.catalogue import ALERT_STATUS, RHI_TASK_STATUS
from schemas.messages import (
    AlertState,
    AlertStatusV1,
    RhiTaskState,
    RhiTaskStatusV1,
)
from services.notifier.delivery import status_message_id
from services.notifier.model import Alert, RhiTask
from services.runtime.handling import Publisher


async def publish_alert_status(
    out: Publisher,
    alert: Alert,
    state: AlertState,
    at: datetime,
    attempt: int = 0,
    detail: str | None = None,
) -> None:
    await out.publish(ALERT_STATUS, alert.alert_id, alert_status(alert, state, at, attempt, detail))


def alert_status(
    alert: Alert,
    state: AlertState,
    at: datetime,
    attempt: int = 0,
    detail: str | None = None,
) -> AlertStatusV1:
    """The ``alert-status`` message of ``alert`` moving to ``state``. Its kinds go in as
    the stored text, made members of their enums by the model's validation (in
    pydantic's core, at half the CPU of ``AlertKind(...)`` and the others here)."""
    return AlertStatusV1.model_validate(
        {
            "message_id": status_message_id(alert.alert_id, state.value, attempt),
            "alert_id": alert.alert_id,
            "state": state,
            "kind": alert.kind,
            "recipient_code": alert.recipient_code,
            "recipient_kind": alert.recipient_kind,
            "force_code": alert.force_code,
            "episode_ref": alert.episode_ref,
            "event_message_id": alert.event_message_id,
            "attempt": attempt,
            "detail": detail[:500] if detail else None,
            "at": at,
            "recipient_name": alert.recipient_name,
            "event_type": alert.event_type,
        }
    )


async def publish_task_status(
    out: Publisher,
    task: RhiTask,
    state: RhiTaskState,
    at: datetime,
    note: str | None = None,
    discriminator: str = "",
) -> None:
    message = RhiTaskStatusV1(
        message_id=derived_id("rhi-task-status", task.task_id, state.value, discriminator),
        task_id=task.task_id,
        state=state,
        authority_code=task.authority_code,
        force_code=task.force_code,
        episode_ref=task.episode_ref,
        due_at=task.due_at,
        note=note[:500] if note else None,
        at=at,
    )
    await out.publish(RHI_TASK_STATUS, task.task_id, message)

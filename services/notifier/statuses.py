"""The status messages the notifier publishes (``alert-status``, ``rhi-task-status``),
with deterministic ids so a repeat is de-duplicated by consumers."""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import TypeAdapter

from schemas.base import derived_id
from schemas.catalogue import ALERT_STATUS, RHI_TASK_STATUS
from schemas.episode import EventType
from schemas.messages import (
    AlertKind,
    AlertState,
    AlertStatusV1,
    OrgKind,
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
    detail = detail[:500] if detail else None
    return AlertStatusV1.model_validate(
        _fields(alert, status_message_id(alert.alert_id, state.value, attempt), attempt, detail)
        | {"state": state, "at": at}
    )


def _fields(alert: Alert, message_id: str, attempt: int, detail: str | None) -> dict[str, object]:
    """An ``alert-status`` message's fields but its state and time, in the model's order
    (the JSON written without the model keeps it)."""
    return {
        "message_id": message_id,
        "alert_id": alert.alert_id,
        "state": None,
        "kind": alert.kind,
        "recipient_code": alert.recipient_code,
        "recipient_kind": alert.recipient_kind,
        "force_code": alert.force_code,
        "episode_ref": alert.episode_ref,
        "event_message_id": alert.event_message_id,
        "attempt": attempt,
        "detail": detail,
        "at": None,
        "recipient_name": alert.recipient_name,
        "event_type": alert.event_type,
    }


_ALERT_KINDS = frozenset(AlertKind)
_ORG_KINDS = frozenset(OrgKind)
_EVENT_TYPES = frozenset(EventType)
_TIME = TypeAdapter(datetime)  # a datetime field's JSON, as the model writes it


def alert_status_json(
    alert: Alert,
    state: AlertState,
    at: datetime,
    attempt: int = 0,
    detail: str | None = None,
) -> tuple[str, str]:
    """:func:`alert_status`'s message id and JSON (``model_dump_json``'s text), written
    without the model when its validation would change nothing: kinds it knows and no
    text with whitespace at either end to strip (Python's ``strip`` takes off all that
    pydantic's does, and more). Otherwise, and for what it refuses, the model. For the
    delivery loop's outcome transaction, where building and dumping the model was a
    fifth of its CPU."""
    detail = detail[:500] if detail else None
    if not _plain(alert, attempt, detail):
        message = alert_status(alert, state, at, attempt, detail)
        return message.message_id, message.model_dump_json()
    message_id = status_message_id(alert.alert_id, state.value, attempt)
    fields = _fields(alert, message_id, attempt, detail) | {
        "state": state.value,
        "at": _TIME.dump_python(at, mode="json"),
    }
    return message_id, json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def _plain(alert: Alert, attempt: int, detail: str | None) -> bool:
    """The model's validation would keep every value of ``alert`` as it is."""
    texts = (
        alert.alert_id,
        alert.recipient_code,
        alert.force_code,
        alert.episode_ref,
        alert.event_message_id,
        alert.recipient_name,
        detail or "",
    )
    return (
        type(attempt) is int
        and alert.kind in _ALERT_KINDS
        and alert.recipient_kind in _ORG_KINDS
        and alert.event_type in _EVENT_TYPES
        and all(type(text) is str and text == text.strip() for text in texts)
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

"""Pure projections of return home interview tasks and records to read-model rows, and
which status is a task's current one (the same rule as alerts; no I/O)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from schemas.messages import (
    RhiTaskRequestedV1,
    RhiTaskState,
    RhiTaskStatusV1,
)
from schemas.rhi_record import RhiTaskOutcomeV2
from services.console.projections import Row, aware, episode_key

_RHI_STATE_ORDER = {
    RhiTaskState.OPEN: 0,
    RhiTaskState.REMINDED: 1,
    RhiTaskState.ESCALATED: 2,
    RhiTaskState.COMPLETED: 3,
    RhiTaskState.DECLINED: 3,
    RhiTaskState.NOT_POSSIBLE: 3,
    RhiTaskState.WITHDRAWN: 4,
}


OPEN_RHI_STATES = frozenset({"open", "reminded", "escalated"})


def rhi_request_row(task: RhiTaskRequestedV1) -> Row:
    ref = task.episode
    return {
        "task_id": task.task_id,
        "episode_key": episode_key(ref.force_code, ref.episode_ref),
        "authority_code": task.authority.code,
        "authority_name": task.authority.name,
        "returned_at": aware(task.returned_at),
        "due_at": aware(task.due_at),
        "requested_at": aware(task.requested_at),
    }


def rhi_status_row(status: RhiTaskStatusV1) -> Row:
    return {
        "task_id": status.task_id,
        "episode_key": episode_key(status.force_code, status.episode_ref),
        "authority_code": status.authority_code,
        "due_at": aware(status.due_at),
        "state": status.state.value,
        "state_at": aware(status.at),
        "note": status.note,
    }


def rhi_status_is_newer(
    current_state: str | None, current_at: datetime | None, status: RhiTaskStatusV1
) -> bool:
    """Whether ``status`` replaces the task's current state (same rule as alerts)."""
    if current_state is None or current_at is None:
        return True
    at = aware(status.at)
    if at != current_at:
        return at > current_at
    return _RHI_STATE_ORDER[status.state] > _RHI_STATE_ORDER[RhiTaskState(current_state)]


def _listed(values: Iterable[str]) -> str | None:
    return ",".join(values) or None


def rhi_record_row(record: RhiTaskOutcomeV2) -> Row:
    """A return home interview as recorded (restricted parts included: the table says
    who may see them)."""
    offer, interviewer = record.offer, record.interviewer
    return {
        "task_id": record.task_id,
        "message_id": record.message_id,
        "outcome": record.outcome.value,
        "reason": record.reason,
        "recorded_by": record.recorded_by,
        "recorded_at": aware(record.recorded_at),
        "offered_at": aware(offer.offered_at) if offer else None,
        "offer_method": offer.method.value if offer else None,
        "offer_accepted": offer.accepted if offer else None,
        "interviewed_at": aware(record.interviewed_at) if record.interviewed_at else None,
        "interviewer_name": interviewer.name if interviewer else None,
        "interviewer_organisation": interviewer.organisation if interviewer else None,
        "interviewer_independent": interviewer.independent if interviewer else None,
        "whereabouts": record.whereabouts,
        "with_whom": record.with_whom,
        "push_factors": _listed(record.push_factors),
        "pull_factors": _listed(record.pull_factors),
        "harm_disclosed": record.harm_disclosed,
        "harm_kinds": _listed(k.value for k in record.harm_kinds),
        "child_words": record.child_words,
        "referrals": _listed(r.value for r in record.referrals),
        "shared_with_police": record.shared_with_police,
    }

"""Return home interview tasks (DESIGN §7, DOMAIN: DfE statutory guidance), pure."""

from __future__ import annotations

from datetime import datetime, timedelta

from schemas.messages import RhiOutcome, RhiTaskState

RHI_DEADLINE = timedelta(hours=72)
REMINDER_AFTER = timedelta(hours=48)  # used by the reminder loop (a later issue)
FINAL_STATES = frozenset({RhiTaskState.COMPLETED, RhiTaskState.DECLINED, RhiTaskState.NOT_POSSIBLE})


def task_due_at(returned_at: datetime, requested_due_at: datetime) -> datetime:
    """The statutory limit is 72 hours after return: a requested deadline later than
    that is pulled back to it, never pushed out."""
    return min(requested_due_at, returned_at + RHI_DEADLINE)


def state_for_outcome(outcome: RhiOutcome) -> RhiTaskState:
    return RhiTaskState(outcome.value)

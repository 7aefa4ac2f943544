"""What one return home interview task counts as (issue 21; pure): offered, offered
within 72 hours, completed, completed within 72 hours, declined, not possible, overdue.

The statutory measure runs from the child's return (DOMAIN: an interview offered within
72 hours of the return) to the **interview**, not to the record: an interview done at
70 hours and typed up at 80 is in time. An outcome recorded before issue 21 (a v1
outcome, no record) has no interview time: its recording time stands in for it, as the
compliance chart counted it until then.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

STATUTORY = timedelta(hours=72)
COMPLETED, DECLINED, NOT_POSSIBLE = "completed", "declined", "not-possible"
OUTCOMES = frozenset({COMPLETED, DECLINED, NOT_POSSIBLE})


class Measures(NamedTuple):
    """What a task counts as, worked out once (the figures count many)."""

    result: str | None
    offered: bool
    offered_in_time: bool
    completed_in_time: bool


class TaskFacts(NamedTuple):
    """One task as the read model knows it: the request, the notifier's state, and the
    record when the console has one (``outcome`` etc.). A named tuple: the figures read
    a hundred thousand of them."""

    task_id: str
    authority_code: str
    authority_name: str | None
    returned_at: datetime  # the return (or the time found, under the "found" trigger)
    due_at: datetime
    state: str | None  # the notifier's
    state_at: datetime | None
    outcome: str | None = None  # the record's
    offered_at: datetime | None = None
    interviewed_at: datetime | None = None
    looked_after: bool = False
    placed_out: bool = False  # a looked-after child living outside the authority

    @property
    def limit(self) -> datetime:
        return self.returned_at + STATUTORY

    @property
    def result(self) -> str | None:
        """completed, declined, not-possible, or None while no outcome is known."""
        if self.outcome in OUTCOMES:
            return self.outcome
        return self.state if self.state in OUTCOMES else None

    @property
    def interview_at(self) -> datetime | None:
        if self.result != COMPLETED:
            return None
        return self.interviewed_at or self.state_at

    @property
    def completed_in_time(self) -> bool:
        at = self.interview_at
        return at is not None and at <= self.limit

    @property
    def offered(self) -> bool:
        """An offer recorded, or an interview that was done or declined (so was offered)."""
        return self.offered_at is not None or self.result in (COMPLETED, DECLINED)

    @property
    def offered_in_time(self) -> bool:
        if self.offered_at is not None:
            return self.offered_at <= self.limit
        return self.completed_in_time  # an interview done in time was offered in time

    def measures(self) -> Measures:
        offered = self.offered
        return Measures(
            self.result, offered, offered and self.offered_in_time, self.completed_in_time
        )

    def overdue(self, now: datetime) -> bool:
        return self.result is None and self.due_at <= now

    def counted(self, now: datetime) -> bool:
        """Due for the compliance chart: an outcome known, or the deadline passed."""
        return self.result is not None or self.due_at <= now

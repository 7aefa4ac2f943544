"""When an alert must be acknowledged, and when an RHI task needs a reminder (DESIGN
§6, §7; pure). Times are UTC; school days are counted in Europe/London time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from schemas.messages import AlertKind, OrgKind
from services.notifier.policy import DeliveryPolicy

LONDON = ZoneInfo("Europe/London")
# A calendar with no school day for this long is misconfigured (terms all in the past):
# the alert then falls back to the default window rather than never falling due.
_SEARCH_DAYS = 366
_NO_DEADLINE = frozenset(
    {
        AlertKind.AUTHORITY_ESCALATION,
        AlertKind.RHI_REMINDER,
        AlertKind.RHI_ESCALATION,
        AlertKind.CLOSED,
        AlertKind.WITHDRAWN,
        AlertKind.ANSWER,
    }
)


def next_school_day_start(after: datetime, policy: DeliveryPolicy) -> datetime | None:
    """The first school-day start (08:30 London time by default) later than ``after``."""
    local_day = after.astimezone(LONDON).date()
    for offset in range(_SEARCH_DAYS):
        day = local_day + timedelta(days=offset)
        if policy.calendar.is_school_day(day):
            start = datetime.combine(day, policy.school_day_start, tzinfo=LONDON)
            if start > after:
                return start.astimezone(UTC)
    return None


def ack_deadline(
    kind: AlertKind, recipient_kind: OrgKind, at: datetime, policy: DeliveryPolicy
) -> datetime | None:
    """When an alert created ``at`` escalates if nobody has acknowledged it; None for
    alerts that never escalate: the last step of a chain, RHI reminders (the task has its
    own deadline), and the notice that an episode was closed (it asks nothing)."""
    if kind in _NO_DEADLINE:
        return None
    if kind is AlertKind.ESCALATION:
        return at + timedelta(hours=policy.escalation_hours)
    if recipient_kind is OrgKind.SCHOOL:
        start = next_school_day_start(at, policy)
        if start is not None:
            return start
    return at + policy.ack_window(recipient_kind.value)


def rhi_reminder_at(returned_at: datetime, policy: DeliveryPolicy) -> datetime:
    return returned_at + timedelta(hours=policy.rhi_reminder_hours)

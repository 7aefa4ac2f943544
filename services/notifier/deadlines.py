"""When an alert must be acknowledged, and when an RHI task needs a reminder (DESIGN
§6, §7, §10; pure). Times are UTC; school days and working hours are counted in
Europe/London time (services/notifier/hours.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from schemas.messages import AlertKind, OrgKind
from services.notifier.hours import (
    LONDON,
    SEARCH_DAYS,
    Periods,
    WorkingHours,
    add_counted_time,
    is_within,
    local_day,
)
from services.notifier.policy import DeliveryPolicy

_NO_DEADLINE = frozenset(
    {
        AlertKind.AUTHORITY_ESCALATION,
        AlertKind.RHI_REMINDER,
        AlertKind.RHI_ESCALATION,
        # The child is no longer missing: the alert tells, and chasing a recipient about
        # a child who is home would be noise (issue 17: the episode drives its alerts).
        AlertKind.FOUND,
        AlertKind.RETURNED,
        AlertKind.CLOSED,
        AlertKind.WITHDRAWN,
        AlertKind.ANSWER,
        # A copy for the authority's out-of-hours team: the authority's own alert
        # carries the deadline and its escalation.
        AlertKind.OUT_OF_HOURS,
    }
)


def next_school_day_start(after: datetime, policy: DeliveryPolicy) -> datetime | None:
    """The first school-day start (08:30 London time by default) later than ``after``;
    None when no school day comes within a year (terms all in the past)."""
    local = local_day(after)
    for offset in range(SEARCH_DAYS):
        day = local + timedelta(days=offset)
        if policy.calendar.is_school_day(day):
            start = datetime.combine(day, policy.school_day_start, tzinfo=LONDON)
            if start > after:
                return start.astimezone(UTC)
    return None


def school_periods(policy: DeliveryPolicy) -> Periods:
    def periods(day: date) -> list[tuple[datetime, datetime]]:
        if not policy.calendar.is_school_day(day):
            return []
        return [
            (
                datetime.combine(day, policy.school_day_start, tzinfo=LONDON).astimezone(UTC),
                datetime.combine(day, policy.school_day_end, tzinfo=LONDON).astimezone(UTC),
            )
        ]

    return periods


def working_periods(hours: WorkingHours, policy: DeliveryPolicy) -> Periods:
    """A kind's working hours on working days: bank holidays of the calendar's nation
    are nobody's working day (term dates and closures are schools' alone)."""

    def periods(day: date) -> list[tuple[datetime, datetime]]:
        return [] if policy.calendar.is_bank_holiday(day) else hours.periods_on(day)

    return periods


def school_day_open(at: datetime, policy: DeliveryPolicy) -> bool:
    """A school day whose school day has not ended yet (before it starts counts: the
    register is still today's)."""
    local = at.astimezone(LONDON)
    return policy.calendar.is_school_day(local.date()) and local.time() < policy.school_day_end


def at_work(at: datetime, recipient_kind: OrgKind, policy: DeliveryPolicy) -> bool:
    """Within the kind's working hours; a kind without hours is always at work."""
    hours = policy.working_hours(recipient_kind.value)
    return hours is None or is_within(at, working_periods(hours, policy))


def _working_time_after(
    at: datetime, amount: timedelta, recipient_kind: OrgKind, policy: DeliveryPolicy
) -> datetime:
    """``amount`` of the kind's working time after ``at``; plain time for a kind
    without hours, or hours that give no working time within a year."""
    hours = policy.working_hours(recipient_kind.value)
    due = None if hours is None else add_counted_time(at, amount, working_periods(hours, policy))
    return due or at + amount


def _school_deadline(at: datetime, policy: DeliveryPolicy, urgent: bool) -> datetime | None:
    start = next_school_day_start(at, policy)
    if not urgent:
        return start
    counted = add_counted_time(at, timedelta(hours=policy.high_risk_hours), school_periods(policy))
    # An urgent alert never gives a school longer than an ordinary one: the hours count
    # only while the school day lasts, and when they run past its end (or the alert
    # comes after it) the next school day's start is the deadline, as for any alert.
    found = [d for d in (counted, start) if d is not None]
    return min(found) if found else None


def ack_deadline(
    kind: AlertKind,
    recipient_kind: OrgKind,
    at: datetime,
    policy: DeliveryPolicy,
    *,
    urgent: bool = False,
) -> datetime | None:
    """When an alert created ``at`` escalates if nobody has acknowledged it; None for
    alerts that never escalate: the last step of a chain, RHI reminders (the task has its
    own deadline), and notices that ask nothing (closed, withdrawn, answers, the copy to
    an out-of-hours team).

    Schools: the next school day's start, or for an ``urgent`` alert ``high_risk_hours``
    of school-day time if sooner. Kinds with working hours (policy ``[hours]``): their
    hours of working time. Escalation contacts work their organisation's hours."""
    if kind in _NO_DEADLINE:
        return None
    if kind is AlertKind.ESCALATION:
        window = timedelta(hours=policy.escalation_hours)
        return _working_time_after(at, window, recipient_kind, policy)
    if recipient_kind is OrgKind.SCHOOL:
        due = _school_deadline(at, policy, urgent)
        if due is not None:
            return due
        # No school day within a year: the calendar is wrong; the default window then.
        return at + policy.ack_window(recipient_kind.value)
    return _working_time_after(at, policy.ack_window(recipient_kind.value), recipient_kind, policy)


def rhi_reminder_at(returned_at: datetime, policy: DeliveryPolicy) -> datetime:
    return returned_at + timedelta(hours=policy.rhi_reminder_hours)

"""The notifier's part of a partnership's policy file (DESIGN §6, §7, §10; pure): the
school calendar and day, acknowledgement deadlines, working hours per kind of recipient,
escalation and reminder timings, the retry window.

Parsed from the ``[deadlines]``, ``[hours]``, ``[calendar]`` and ``[delivery]`` tables of
the TOML file; every error names the table, the key and the problem. The defaults are
DESIGN's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from functools import cached_property
from typing import Any

import holidays

from schemas.messages import OrgKind
from services.notifier.hours import WorkingHours

NATIONS = {"england": "ENG", "wales": "WLS"}
_HH_MM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class PolicyError(ValueError):
    """The policy file is wrong; the message names the table and key."""


@dataclass(frozen=True)
class Calendar:
    """When schools are open: weekdays that are not bank holidays (England or Wales),
    inside a term when terms are given, and not a closure (INSET) day."""

    nation: str = "england"
    terms: tuple[tuple[date, date], ...] = ()
    closures: frozenset[date] = frozenset()

    @cached_property
    def _bank_holidays(self) -> holidays.HolidayBase:
        return holidays.country_holidays("GB", subdiv=NATIONS[self.nation])

    def is_bank_holiday(self, day: date) -> bool:
        return day in self._bank_holidays

    def prepare(self, years: Iterable[int]) -> None:
        """Load the bank holidays of ``years`` now rather than on the first deadline
        worked out: the ``holidays`` package imports its country tables and computes a
        year on first use, about a second's CPU."""
        for year in years:
            self.is_bank_holiday(date(year, 1, 1))

    def is_school_day(self, day: date) -> bool:
        if day.weekday() >= 5 or day in self.closures or self.is_bank_holiday(day):
            return False
        return not self.terms or any(start <= day <= end for start, end in self.terms)


@dataclass(frozen=True)
class RetryPolicy:
    """Temporary SMTP failures are retried with exponential backoff (``first_delay``
    doubling up to ``max_delay``) for at least ``window``, then count as permanent."""

    window: timedelta = timedelta(hours=4)
    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(minutes=30)


# When each kind of recipient is at work: their deadlines count this time only. Schools
# are not here: they keep the school day ([deadlines] school_day_start, school_day_end).
DEFAULT_HOURS: Mapping[str, WorkingHours] = {
    OrgKind.GP_PRACTICE.value: WorkingHours.parse("Mon-Fri 08:00-18:30"),
    OrgKind.YOT.value: WorkingHours.parse("Mon-Fri 09:00-17:00"),
    OrgKind.LOCAL_AUTHORITY.value: WorkingHours.parse("Mon-Fri 09:00-17:00"),
}


@dataclass(frozen=True)
class DeliveryPolicy:
    calendar: Calendar = field(default_factory=Calendar)
    # A school alert must be acknowledged before the next school day starts; an urgent
    # one (high risk, exploitation) within ``high_risk_hours`` of the school day. Until
    # the school day ends a school is asked to check today's register.
    school_day_start: time = time(8, 30)
    school_day_end: time = time(15, 30)
    high_risk_hours: float = 2.0
    # Other recipients: hours to acknowledge, per organisation kind.
    ack_hours: Mapping[str, float] = field(default_factory=dict)
    default_ack_hours: float = 4.0
    # After the escalation contact is told, how long before the local authority is.
    escalation_hours: float = 4.0
    # RHI: a reminder this long after return when no outcome is recorded (the
    # escalation is at the task's deadline, 72 hours after return).
    rhi_reminder_hours: float = 48.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Working hours per kind of recipient; a kind not here counts every hour.
    hours: Mapping[str, WorkingHours] = field(default_factory=lambda: dict(DEFAULT_HOURS))

    def ack_window(self, recipient_kind: str) -> timedelta:
        return timedelta(hours=self.ack_hours.get(recipient_kind, self.default_ack_hours))

    def working_hours(self, recipient_kind: str) -> WorkingHours | None:
        """None when the kind counts every hour (no hours given, or ``always``)."""
        hours = self.hours.get(recipient_kind)
        return None if hours is None or hours.always else hours

    @classmethod
    def from_sections(cls, sections: Mapping[str, Any], source: str = "policy") -> DeliveryPolicy:
        """Build from the parsed TOML tables (missing tables keep the defaults)."""
        return cls(
            calendar=_calendar(_table(sections, "calendar", source), source),
            **_deadlines(_table(sections, "deadlines", source), source),
            retry=_retry(_table(sections, "delivery", source), source),
            hours=_working_hours(_table(sections, "hours", source), source),
        )


def _table(sections: Mapping[str, Any], name: str, source: str) -> dict[str, Any]:
    value = sections.get(name, {})
    if not isinstance(value, dict):
        raise PolicyError(f"{source}: [{name}] must be a table")
    return value


def _where(source: str, table: str, key: str) -> str:
    return f"{source}: [{table}] {key}"


def _unknown(table: dict[str, Any], known: set[str], source: str, name: str) -> None:
    for key in table:
        if key not in known:
            raise PolicyError(
                f"{_where(source, name, key)}: unknown key; known: {', '.join(sorted(known))}"
            )


def _hours(value: Any, where: str, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= minimum:
        raise PolicyError(f"{where}: a number of hours above {minimum:g}, e.g. 4")
    return float(value)


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise PolicyError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def _calendar(table: dict[str, Any], source: str) -> Calendar:
    _unknown(table, {"nation", "terms", "closures"}, source, "calendar")
    nation = table.get("nation", "england")
    if nation not in NATIONS:
        raise PolicyError(
            f"{_where(source, 'calendar', 'nation')}: {nation!r}; one of {', '.join(NATIONS)}"
        )
    terms: list[tuple[date, date]] = []
    raw_terms = table.get("terms", [])
    if not isinstance(raw_terms, list):
        raise PolicyError(f"{_where(source, 'calendar', 'terms')}: a list of {{start, end}}")
    for n, term in enumerate(raw_terms, start=1):
        where = _where(source, "calendar", f"terms[{n}]")
        if not isinstance(term, dict) or set(term) != {"start", "end"}:
            raise PolicyError(f'{where}: write {{ start = "2026-09-02", end = "2026-10-23" }}')
        start, end = _date(term["start"], f"{where}.start"), _date(term["end"], f"{where}.end")
        if end < start:
            raise PolicyError(f"{where}: ends ({end}) before it starts ({start})")
        terms.append((start, end))
    raw_closures = table.get("closures", [])
    if not isinstance(raw_closures, list):
        raise PolicyError(f"{_where(source, 'calendar', 'closures')}: a list of dates")
    closures = frozenset(
        _date(d, _where(source, "calendar", f"closures[{n}]"))
        for n, d in enumerate(raw_closures, start=1)
    )
    return Calendar(nation, tuple(sorted(terms)), closures)


def _deadlines(table: dict[str, Any], source: str) -> dict[str, Any]:
    kinds = {k.value for k in OrgKind if k is not OrgKind.SCHOOL}
    known = {
        "school_day_start",
        "school_day_end",
        "default_hours",
        "high_risk_hours",
        "escalation_hours",
        "rhi_reminder_hours",
        *kinds,
    }
    _unknown(table, known, source, "deadlines")
    values: dict[str, Any] = {}
    for key, example in (("school_day_start", "08:30"), ("school_day_end", "15:30")):
        if key in table:
            values[key] = _clock(table[key], _where(source, "deadlines", key), example)
    start = values.get("school_day_start", time(8, 30))
    if values.get("school_day_end", time(15, 30)) <= start:
        raise PolicyError(
            f"{_where(source, 'deadlines', 'school_day_end')}: must be later than "
            f"school_day_start ({start:%H:%M})"
        )
    for key, name in (
        ("default_hours", "default_ack_hours"),
        ("high_risk_hours", "high_risk_hours"),
        ("escalation_hours", "escalation_hours"),
        ("rhi_reminder_hours", "rhi_reminder_hours"),
    ):
        if key in table:
            values[name] = _hours(table[key], _where(source, "deadlines", key))
    values["ack_hours"] = {
        kind: _hours(table[kind], _where(source, "deadlines", kind)) for kind in kinds & set(table)
    }
    if values.get("rhi_reminder_hours", 48.0) >= 72.0:
        raise PolicyError(
            f"{_where(source, 'deadlines', 'rhi_reminder_hours')}: must be under 72 "
            "(the interview is due 72 hours after return)"
        )
    return values


def _clock(raw: Any, where: str, example: str) -> time:
    if isinstance(raw, time):  # TOML's own local time (school_day_start = 08:30:00)
        return raw
    match = _HH_MM.match(raw) if isinstance(raw, str) else None
    if match is None:
        raise PolicyError(f'{where}: a time as "HH:MM", e.g. "{example}"')
    return time(int(match[1]), int(match[2]))


def _working_hours(table: dict[str, Any], source: str) -> dict[str, WorkingHours]:
    """``[hours]``: kind of recipient = ``"Mon-Fri 09:00-17:00"`` (or ``"always"``),
    over the defaults."""
    kinds = {k.value for k in OrgKind if k is not OrgKind.SCHOOL}
    if OrgKind.SCHOOL.value in table:
        raise PolicyError(
            f"{_where(source, 'hours', OrgKind.SCHOOL.value)}: schools keep the school day; "
            "set [deadlines] school_day_start and school_day_end instead"
        )
    _unknown(table, kinds, source, "hours")
    chosen = dict(DEFAULT_HOURS)
    for kind, raw in table.items():
        where = _where(source, "hours", kind)
        if not isinstance(raw, str):
            raise PolicyError(f'{where}: a string, e.g. "Mon-Fri 09:00-17:00"')
        try:
            chosen[kind] = WorkingHours.parse(raw)
        except ValueError as exc:
            raise PolicyError(f"{where}: {exc}") from None
    return chosen


def _retry(table: dict[str, Any], source: str) -> RetryPolicy:
    known = {"retry_window_hours", "first_retry_seconds", "max_retry_minutes"}
    _unknown(table, known, source, "delivery")
    window = _hours(
        table.get("retry_window_hours", 4), _where(source, "delivery", "retry_window_hours")
    )
    first = _hours(
        table.get("first_retry_seconds", 30), _where(source, "delivery", "first_retry_seconds")
    )
    most = _hours(
        table.get("max_retry_minutes", 30), _where(source, "delivery", "max_retry_minutes")
    )
    if window < 4:
        raise PolicyError(
            f"{_where(source, 'delivery', 'retry_window_hours')}: at least 4 (DESIGN §7: "
            "temporary failures are retried over at least 4 hours)"
        )
    if first > most * 60:
        raise PolicyError(
            f"{_where(source, 'delivery', 'first_retry_seconds')}: longer than max_retry_minutes"
        )
    return RetryPolicy(
        window=timedelta(hours=window),
        first_delay=timedelta(seconds=first),
        max_delay=timedelta(minutes=most),
    )

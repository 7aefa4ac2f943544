"""The notifier's part of a partnership's policy file (DESIGN §6, §7; pure): the school
calendar, acknowledgement deadlines, escalation and reminder timings, the retry window.

Parsed from the ``[deadlines]``, ``[calendar]`` and ``[delivery]`` tables of the TOML
file; every error names the table, the key and the problem. The defaults are DESIGN's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from functools import cached_property
from typing import Any

import holidays

from schemas.messages import OrgKind

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


@dataclass(frozen=True)
class DeliveryPolicy:
    calendar: Calendar = field(default_factory=Calendar)
    # A school alert must be acknowledged before the next school day starts.
    school_day_start: time = time(8, 30)
    # Other recipients: hours to acknowledge, per organisation kind.
    ack_hours: Mapping[str, float] = field(default_factory=dict)
    default_ack_hours: float = 4.0
    # After the escalation contact is told, how long before the local authority is.
    escalation_hours: float = 4.0
    # RHI: a reminder this long after return when no outcome is recorded (the
    # escalation is at the task's deadline, 72 hours after return).
    rhi_reminder_hours: float = 48.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def ack_window(self, recipient_kind: str) -> timedelta:
        return timedelta(hours=self.ack_hours.get(recipient_kind, self.default_ack_hours))

    @classmethod
    def from_sections(cls, sections: Mapping[str, Any], source: str = "policy") -> DeliveryPolicy:
        """Build from the parsed TOML tables (missing tables keep the defaults)."""
        return cls(
            calendar=_calendar(_table(sections, "calendar", source), source),
            **_deadlines(_table(sections, "deadlines", source), source),
            retry=_retry(_table(sections, "delivery", source), source),
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
        "default_hours",
        "escalation_hours",
        "rhi_reminder_hours",
        *kinds,
    }
    _unknown(table, known, source, "deadlines")
    values: dict[str, Any] = {}
    if "school_day_start" in table:
        raw = table["school_day_start"]
        match = _HH_MM.match(raw) if isinstance(raw, str) else None
        if isinstance(raw, time):
            values["school_day_start"] = raw
        elif match is None:
            raise PolicyError(
                f'{_where(source, "deadlines", "school_day_start")}: a time as "HH:MM", '
                'e.g. "08:30"'
            )
        else:
            values["school_day_start"] = time(int(match[1]), int(match[2]))
    for key, name in (
        ("default_hours", "default_ack_hours"),
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

"""Working hours and time that counts towards a deadline (issue 17; pure).

A kind of recipient works, say, ``Mon-Fri 09:00-17:00`` (policy ``[hours]``); a deadline
of 4 hours given at 16:00 on a Friday then falls at 12:00 on Monday, because only time
at work counts. Days and clock times are Europe/London; instants in and out are aware
datetimes (UTC by convention).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A deadline this many days on without time at work means the hours or the calendar
# are wrong (no working day for a year): the caller falls back to plain hours.
SEARCH_DAYS = 366
ALWAYS = "always"

# The periods (start, end) that count on one local day, in order and not overlapping.
Periods = Callable[[date], Sequence[tuple[datetime, datetime]]]

_SPAN = re.compile(
    r"^(?P<first>[a-z]{3})(?:-(?P<last>[a-z]{3}))?\s+"
    r"(?P<start>\d{2}:\d{2})-(?P<end>\d{2}:\d{2})$",
    re.IGNORECASE,
)
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
EXAMPLE = '"Mon-Fri 09:00-17:00", several as "Mon-Fri 08:00-18:30, Sat 09:00-12:00", or "always"'


@dataclass(frozen=True)
class Span:
    """Some days of the week (Monday 0) and a clock time range on each; ``end`` None is
    midnight at the end of the day (written 24:00)."""

    days: frozenset[int]
    start: time
    end: time | None


@dataclass(frozen=True)
class WorkingHours:
    """When a kind of recipient is at work: ``spans`` of weekdays and clock times, or
    ``always`` (round the clock: deadlines are plain hours)."""

    spans: tuple[Span, ...] = ()
    always: bool = False
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> WorkingHours:
        """From ``Mon-Fri 09:00-17:00`` (comma-separated spans) or ``always``; raises
        ``ValueError`` saying what is wrong (the policy adds table and key)."""
        cleaned = " ".join(text.split())
        if cleaned.lower() == ALWAYS:
            return cls(always=True, text=ALWAYS)
        if not cleaned:
            raise ValueError(f"empty; write {EXAMPLE}")
        spans = tuple(_span(part.strip()) for part in cleaned.split(","))
        return cls(spans, text=cleaned)

    def periods_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """Today's working periods as instants, merged where spans overlap."""
        found = sorted(
            (_instant(day, span.start), _instant(day, span.end))
            for span in self.spans
            if day.weekday() in span.days
        )
        merged: list[tuple[datetime, datetime]] = []
        for start, end in found:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged


def _span(part: str) -> Span:
    match = _SPAN.match(part)
    if match is None:
        raise ValueError(f"{part!r} is not days and times; write {EXAMPLE}")
    first, last = match["first"], match["last"] or match["first"]
    for name in (first, last):
        if name.lower() not in DAY_NAMES:
            raise ValueError(f"{part!r}: {name!r} is not a day; one of Mon Tue Wed Thu Fri Sat Sun")
    start = _clock(match["start"], part)
    end = None if match["end"] == "24:00" else _clock(match["end"], part)
    if end is not None and end <= start:
        raise ValueError(
            f"{part!r}: ends before it starts; a span ends on its own day "
            "(for night work write two, e.g. Mon-Fri 18:00-24:00, Tue-Sat 00:00-08:00)"
        )
    a, b = DAY_NAMES.index(first.lower()), DAY_NAMES.index(last.lower())
    # Mon-Fri, or round the weekend (Fri-Mon).
    days = frozenset((a + n) % 7 for n in range((b - a) % 7 + 1))
    return Span(days, start, end)


def _clock(value: str, part: str) -> time:
    match = _CLOCK.match(value)
    if match is None:
        raise ValueError(f"{part!r}: {value!r} is not a time of day (HH:MM, or 24:00 to end)")
    return time(int(match[1]), int(match[2]))


def _instant(day: date, at: time | None) -> datetime:
    if at is None:  # 24:00: the next day's midnight
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=LONDON).astimezone(UTC)
    return datetime.combine(day, at, tzinfo=LONDON).astimezone(UTC)


def local_day(at: datetime) -> date:
    return at.astimezone(LONDON).date()


def _periods_from(at: datetime, periods: Periods) -> Iterator[tuple[datetime, datetime]]:
    """The periods that count from ``at`` on, the first cut to start at ``at``."""
    first = local_day(at)
    for offset in range(SEARCH_DAYS):
        for start, end in periods(first + timedelta(days=offset)):
            start = max(start, at)
            if start < end:
                yield start, end


def add_counted_time(at: datetime, amount: timedelta, periods: Periods) -> datetime | None:
    """The instant by which ``amount`` of counted time has passed since ``at``; None when
    the periods give too little time within a year (a misconfigured calendar)."""
    remaining = amount
    for start, end in _periods_from(at, periods):
        if end - start >= remaining:
            return start + remaining
        remaining -= end - start
    return None


def is_within(at: datetime, periods: Periods) -> bool:
    return any(start <= at < end for start, end in periods(local_day(at)))

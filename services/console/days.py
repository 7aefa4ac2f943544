"""Days as people in England and Wales count them: a date in a filter or a report is a
whole local day (midnight to midnight in London), whatever the offset from UTC."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def day_start(day: date) -> datetime:
    """Local midnight at the start of ``day``."""
    return datetime.combine(day, time.min, tzinfo=LONDON)


def day_after(day: date) -> datetime:
    """Local midnight at the end of ``day`` (the exclusive bound of a range)."""
    return day_start(day + timedelta(days=1))


def date_range(
    now: datetime, since: date | None, until: date | None, default_days: int
) -> tuple[date, date]:
    """The days asked for; by default the ``default_days`` up to today."""
    until = until or now.astimezone(LONDON).date()
    return since or until - timedelta(days=default_days - 1), until

"""A clock tests can move: deadlines, retries and reminders are checked without waiting
hours (issue 4). Pass it wherever a service takes ``now``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class MovableClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.at = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> datetime:
        self.at += delta
        return self.at

    def set(self, at: datetime) -> datetime:
        self.at = at
        return at

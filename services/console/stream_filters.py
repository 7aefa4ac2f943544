"""The episode stream's filters (DESIGN §8): date range, force, local authority, risk
grade, risk factor and event type, read from a page's query string. Pure: a bad value
is reported, naming its field, and that filter is left out."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date
from urllib.parse import urlencode

from schemas.episode import EventType, RiskGrade

_FORCE = re.compile(r"[0-9]{2}")
_GSS = re.compile(r"[EW][0-9]{8}")
_FACTOR = re.compile(r"[a-z0-9-]{1,40}")


@dataclass(frozen=True)
class StreamFilters:
    since: date | None = None  # latest event on or after this day
    until: date | None = None  # latest event on or before this day
    force: str | None = None
    la: str | None = None
    grade: RiskGrade | None = None
    factor: str | None = None
    event: EventType | None = None  # an event of this type in the episode

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) is not None for f in fields(self))

    def query(self) -> str:
        """The filters as a query string (without ``?``), for links and the live feed."""
        pairs = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                pairs[f.name] = value.isoformat() if isinstance(value, date) else str(value)
        return urlencode(pairs)


def parse_filters(params: Mapping[str, str]) -> tuple[StreamFilters, list[tuple[str, str]]]:
    """The filters given, and a (field, problem) for each value that makes no sense."""
    problems: list[tuple[str, str]] = []
    values: dict[str, object] = {}

    def text(name: str) -> str:
        return (params.get(name) or "").strip()

    for name in ("since", "until"):
        if text(name):
            try:
                values[name] = date.fromisoformat(text(name))
            except ValueError:
                problems.append((name, "a date as YYYY-MM-DD, e.g. 2026-11-01"))
    if text("force"):
        if _FORCE.fullmatch(text("force")):
            values["force"] = text("force")
        else:
            problems.append(("force", "a police force code has 2 digits, e.g. 10"))
    if text("la"):
        if _GSS.fullmatch(text("la").upper()):
            values["la"] = text("la").upper()
        else:
            problems.append(("la", "a GSS code is a letter E or W and 8 digits, e.g. E06000057"))
    for name, kind in (("grade", RiskGrade), ("event", EventType)):
        if text(name):
            try:
                values[name] = kind(text(name))
            except ValueError:
                allowed = ", ".join(k.value for k in kind)
                problems.append((name, f"one of {allowed}"))
    if text("factor"):
        if _FACTOR.fullmatch(text("factor").lower()):
            values["factor"] = text("factor").lower()
        else:
            problems.append(("factor", "a risk factor such as cse or county-lines"))
    since, until = values.get("since"), values.get("until")
    if isinstance(since, date) and isinstance(until, date) and since > until:
        problems.append(("until", "on or after the from date"))
        del values["until"]
    return StreamFilters(**values), problems  # type: ignore[arg-type]

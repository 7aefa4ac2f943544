"""An episode as the pages show it (no I/O): its row with its events, alerts, return
home interview tasks and answers, and, on a child's timeline, what the page works out
from its events: how long the child was missing, the risk factors, where found and who
with."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

Row = Mapping[Any, Any]
_ENDS = ("found", "returned")


@dataclass
class EpisodeView:
    episode: Row
    events: list[Row] = field(default_factory=list)
    alerts: list[Row] = field(default_factory=list)
    rhi_tasks: list[Row] = field(default_factory=list)
    # What recipients answered (acknowledgement page), oldest first.
    answers: list[Row] = field(default_factory=list)


@dataclass(frozen=True)
class EpisodeLine:
    """One episode on the timeline, with what the page works out from its events."""

    view: EpisodeView
    missing_for: timedelta | None  # reported to found/returned; None while missing
    still_missing: bool
    factors: list[str]
    found: list[dict[str, Any]]  # events with a place or companions


def episode_line(view: EpisodeView) -> EpisodeLine:
    events = view.events
    started = next((e["occurred_at"] for e in events if e["type"] == "reported"), None)
    started = started or view.episode["first_event_at"]
    ended = next((e["occurred_at"] for e in events if e["type"] in _ENDS), None)
    found = [
        {
            "at": e["occurred_at"],
            "type": e["type"],
            "place": ", ".join(
                p for p in (e.get("location_description"), e.get("location_postcode")) if p
            ),
            "with": [
                f"{p['given_name']} {p['family_name']}"
                + (f" (born {p['date_of_birth']})" if p.get("date_of_birth") else "")
                for p in json.loads(e["found_with"] or "[]")
            ],
        }
        for e in events
        if e.get("location_postcode") or e.get("location_description") or e.get("found_with")
    ]
    factors = (view.episode.get("risk_factors") or "").split(",")
    return EpisodeLine(
        view,
        missing_for=ended - started if ended and started else None,
        still_missing=ended is None and view.episode["latest_event_type"] != "closed",
        factors=[f for f in factors if f],
        found=found,
    )


def duration(delta: timedelta | None) -> str:
    if delta is None:
        return "—"
    hours = int(delta.total_seconds() // 3600)
    return (
        f"{hours // 24} d {hours % 24} h"
        if hours >= 24
        else f"{hours} h {delta.seconds // 60 % 60} min"
    )

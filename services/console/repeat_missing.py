"""Repeat missing (DESIGN §8), no I/O: the rule (``[routing] repeat_threshold`` and
``repeat_window_days``, the rule the router flags to the MSET panel), a child on the
watchlist as the pages show them, and the watchlist's order: exploitation factors
first, then high risk, then the most episodes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.episode import EXPLOITATION_FACTORS

_GRADE_ORDER = {"high": 0, "medium": 1, "low": 2, "no-apparent-risk": 3}


@dataclass(frozen=True)
class RepeatRule:
    threshold: int = 3
    window_days: int = 90

    @classmethod
    def from_policy(cls, tables: dict[str, Any]) -> RepeatRule:
        routing = tables.get("routing", {})
        return cls(
            int(routing.get("repeat_threshold", cls.threshold)),
            int(routing.get("repeat_window_days", cls.window_days)),
        )


@dataclass(frozen=True)
class Watched:
    child_id: str
    initials: str | None
    birth_year: int | None
    responsible_la: str | None
    episodes: int
    latest_at: datetime
    last_episode_at: datetime  # when the latest episode began
    highest_grade: str | None
    factors: list[str]
    exploitation: list[str]
    still_missing: bool


def rank(child: Watched) -> tuple[int, int, int, float]:
    """Exploitation first, then high risk, then the most episodes, then the latest."""
    return (
        0 if child.exploitation else 1,
        _GRADE_ORDER.get(child.highest_grade or "", 4),
        -child.episodes,
        -child.latest_at.timestamp(),
    )


def watched(rows: Iterable[Mapping[Any, Any]]) -> list[Watched]:
    """The watchlist from the episodes of its children (in the window, each child's
    oldest first), in its order."""
    by_child: dict[str, list[Any]] = {}
    for row in rows:
        by_child.setdefault(row["child_id"], []).append(row)
    children = []
    for key, eps in by_child.items():
        latest = eps[-1]
        factors = sorted({f for e in eps for f in (e["risk_factors"] or "").split(",") if f})
        grades = [e["risk_grade"] for e in eps if e["risk_grade"]]
        children.append(
            Watched(
                child_id=key,
                initials=latest["initials"],
                birth_year=latest["birth_year"],
                responsible_la=next(
                    (e["responsible_la"] for e in reversed(eps) if e["responsible_la"]), None
                ),
                episodes=len(eps),
                latest_at=latest["latest_event_at"],
                last_episode_at=max(e["first_event_at"] or e["latest_event_at"] for e in eps),
                highest_grade=min(grades, key=lambda g: _GRADE_ORDER.get(g, 4), default=None),
                factors=factors,
                exploitation=[f for f in factors if f in EXPLOITATION_FACTORS],
                still_missing=latest["latest_event_type"] not in ("found", "returned", "closed"),
            )
        )
    return sorted(children, key=rank)

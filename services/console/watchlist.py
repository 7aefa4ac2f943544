"""The repeat-missing watchlist (DESIGN §8): children with at least the policy's number
of episodes within its window (``[routing] repeat_threshold`` and
``repeat_window_days``, the rule the router flags to the MSET panel), exploitation
factors first, then high risk, then the most episodes. Names stay on each child's
timeline (audited): the list shows initials and year of birth."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.episode import EXPLOITATION_FACTORS
from services.console.accounts import Role
from services.console.auth import allowed
from services.console.rendering import render
from services.console.state import state
from services.console.tables import episodes

router = APIRouter(include_in_schema=False)
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


async def watchlist(session: AsyncSession, rule: RepeatRule, now: datetime) -> list[Watched]:
    since = now - timedelta(days=rule.window_days)
    recent = (
        (episodes.c.first_event_at >= since)
        & episodes.c.child_id.is_not(None)
        & episodes.c.withdrawn_at.is_(None)
    )
    keys = (
        select(episodes.c.child_id)
        .where(recent)
        .group_by(episodes.c.child_id)
        .having(func.count() >= rule.threshold)
    )
    rows = (
        (
            await session.execute(
                select(episodes)
                .where(recent, episodes.c.child_id.in_(keys))
                .order_by(episodes.c.child_id, episodes.c.latest_event_at)
            )
        )
        .mappings()
        .all()
    )
    by_child: dict[str, list[Any]] = {}
    for row in rows:
        by_child.setdefault(row["child_id"], []).append(row)
    watched = []
    for key, eps in by_child.items():
        latest = eps[-1]
        factors = sorted({f for e in eps for f in (e["risk_factors"] or "").split(",") if f})
        grades = [e["risk_grade"] for e in eps if e["risk_grade"]]
        watched.append(
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
    return sorted(watched, key=rank)


@router.get(
    "/watchlist", response_class=HTMLResponse, dependencies=[Depends(allowed(Role.MSET_CHAIR))]
)
async def watchlist_page(request: Request) -> Response:
    rule: RepeatRule = state(request).repeat_rule
    async with state(request).db.transaction() as session:
        children = await watchlist(session, rule, state(request).now())
    return render(request, "watchlist.html", {"children": children, "rule": rule})

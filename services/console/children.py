"""A child's timeline (DESIGN §8): every episode with its events, how long the child
was missing, risk grades and factors, where found and who with; every alert per agency
with its delivery and acknowledgement state; return home interviews and their
outcomes. An MSET chair sees any child; an RHI worker only a child of their own
authority. Every view is audited."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.console import audit, child_links, repository
from services.console.accounts import Role
from services.console.auth import NotAllowedError, allowed
from services.console.rendering import not_found, render
from services.console.repository import EpisodeView
from services.console.sessions import SignedIn
from services.console.state import state
from services.console.tables import episodes

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)
EPISODES_SHOWN = 200
_ENDS = ("found", "returned")

Viewer = Annotated[SignedIn, Depends(allowed(Role.MSET_CHAIR, Role.RHI_WORKER))]


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


async def child_episodes(session: AsyncSession, child_id: str) -> list[EpisodeView]:
    """The child's episodes (the router's ``child_id``), newest first, with details."""
    rows = (
        (
            await session.execute(
                select(episodes)
                .where(episodes.c.child_id == child_id)
                .order_by(episodes.c.latest_event_at.desc(), episodes.c.episode_key)
                .limit(EPISODES_SHOWN)
            )
        )
        .mappings()
        .all()
    )
    return await repository.with_details(session, rows)


@router.get("/children/{key}", response_class=HTMLResponse)
async def timeline(request: Request, key: str, who: Viewer) -> Response:
    now: datetime = state(request).now()
    async with state(request).db.transaction() as session:
        views = await child_episodes(session, key)
        if not views:
            into = await child_links.merged_into(session, key)
            if into is not None:  # merged: the child's record is under its new id
                return RedirectResponse(f"/children/{into}", status_code=303)
            return not_found(
                request, "No such child", "No episode has reached the console for this child."
            )
        if who.user.role is Role.RHI_WORKER:
            authorities = {v.episode["responsible_la"] for v in views} | {
                t["authority_code"] for v in views for t in v.rhi_tasks
            }
            if who.user.la_code not in authorities:
                log.info("console: %s refused child %s (another authority)", who.user.username, key)
                raise NotAllowedError(
                    who, "This child's record belongs to another local authority."
                )
        await audit.record(session, who, "view-child", key, now, f"{len(views)} episode(s)")
    latest = views[0].episode
    lines = [episode_line(v) for v in views]
    return render(
        request,
        "child.html",
        {
            "child_row": latest,
            "lines": lines,
            "in_90_days": sum(
                1
                for v in views
                if v.episode["first_event_at"]
                and now - v.episode["first_event_at"] <= timedelta(days=90)
            ),
            "factors": sorted({f for line in lines for f in line.factors}),
            "duration": duration,
            "child_id": key,
            "can_change_identity": who.user.role is Role.MSET_CHAIR,
        },
    )

"""A child's timeline (DESIGN §8): every episode with its events, how long the child
was missing, risk grades and factors, where found and who with; every alert per agency
with its delivery and acknowledgement state; return home interviews and their
outcomes. An MSET chair sees any child; an RHI worker only a child of their own
authority. Every view is audited."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console import audit, child_links
from services.console.accounts import Role
from services.console.auth import NotAllowedError, allowed
from services.console.child_store import child_episodes
from services.console.episode_view import duration, episode_line
from services.console.rendering import not_found, render
from services.console.sessions import SignedIn
from services.console.state import state

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

Viewer = Annotated[SignedIn, Depends(allowed(Role.MSET_CHAIR, Role.RHI_WORKER))]


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

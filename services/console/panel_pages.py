"""The MSET panel's pages (issue 20), for the MSET chair: meetings, each meeting's
agenda, what the panel decides per child, and its actions. Each page names children, so
each view and each record is audited (ids only). A new action, and an action changed,
marked done or reopened, goes to the notifier on ``panel-actions.v1``: it emails the
owner organisation the day after an open action falls due."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.catalogue import PANEL_ACTIONS
from services.console import audit, panel_store
from services.console.accounts import Role
from services.console.auth import allowed, check_csrf
from services.console.child_store import watchlist
from services.console.days import LONDON, day_after, day_start
from services.console.organisation_names import OrganisationNames
from services.console.panel import (
    REASON_TEXT,
    Action,
    Meeting,
    MeetingForm,
    Problem,
    agenda,
    check_meeting,
)
from services.console.rendering import not_found, render
from services.console.sessions import SignedIn
from services.console.state import state
from services.runtime.handling import Outbox

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)
Chair = Annotated[SignedIn, Depends(allowed(Role.MSET_CHAIR))]


def today(request: Request) -> date:
    now: datetime = state(request).now()
    return now.astimezone(LONDON).date()


async def organisations(session: AsyncSession) -> dict[str, str]:
    """The organisations the console knows (from the alerts and tasks it has read)."""
    names = OrganisationNames()
    await names.read(session)
    return dict(sorted(names.known().items(), key=lambda item: item[1]))


async def publish_actions(
    session: AsyncSession, out: Outbox, actions: list[Action], names: dict[str, str], now: datetime
) -> None:
    """Each action (new, changed, done or reopened) to the notifier, as it is now."""
    for a in actions:
        held_on = await panel_store.meeting_on(session, a.meeting_id)
        assert held_on is not None
        message = panel_store.action_message(a, held_on, names.get(a.owner_code, a.owner_code), now)
        await out.publish(PANEL_ACTIONS, a.action_id, message)


@router.get("/panel", response_class=HTMLResponse)
async def panel_home(request: Request, who: Chair) -> Response:
    return await _home(request)


async def _home(
    request: Request, form: MeetingForm | None = None, problems: list[Problem] | None = None
) -> Response:
    async with state(request).db.transaction() as session:
        held = await panel_store.meetings(session)
        overdue = await panel_store.overdue_actions(session, today(request))
        names = await organisations(session)
    return render(
        request,
        "panel.html",
        {
            "meetings": held,
            "overdue": overdue,
            "names": names,
            "form": form or MeetingForm(held_on=today(request).isoformat()),
            "problems": problems or [],
            "today": today(request),
        },
        status_code=400 if problems else 200,
    )


@router.post("/panel/meetings", response_class=HTMLResponse)
async def add_meeting(request: Request, who: Chair) -> Response:
    data = await request.form()
    check_csrf(who, str(data.get("csrf_token") or "")[:100])
    form = MeetingForm(
        held_on=str(data.get("held_on") or "")[:20],
        chair=str(data.get("chair") or "")[:400],
        organisations=[str(v)[:20] for v in data.getlist("organisations")][:100],
    )
    async with state(request).db.transaction() as session:
        checked = check_meeting(form, await organisations(session))
        if isinstance(checked, list):
            problems = checked
        else:
            m = await panel_store.add_meeting(
                session, checked, who.user.username, state(request).now()
            )
            await audit.record(
                session,
                who,
                "add-panel-meeting",
                m.meeting_id,
                state(request).now(),
                f"held {m.held_on}, {len(m.organisations)} organisation(s)",
            )
    if isinstance(checked, list):
        return await _home(request, form, problems)
    return RedirectResponse(f"/panel/meetings/{m.meeting_id}", status_code=303)


async def _agenda(request: Request, session: AsyncSession, m: Meeting) -> list[Any]:
    previous = await panel_store.previous_meeting_on(session, m)
    since = day_start(previous) if previous else day_start(m.held_on) - panel_store.FIRST_LOOK_BACK
    until = day_after(m.held_on)
    watched = await watchlist(session, state(request).repeat_rule, until)
    by_reason = {
        "watchlist": [w.child_id for w in watched],
        "high-risk": await panel_store.high_risk_since(session, since, until),
        "overdue-rhi": await panel_store.overdue_rhi(session, min(until, state(request).now())),
        "actions-due": await panel_store.actions_due_by(session, m.held_on),
    }
    ids = [c for ids in by_reason.values() for c in ids]
    return agenda(
        by_reason,
        await panel_store.labels(session, ids),
        await panel_store.last_reviews(session, ids),
        await panel_store.open_actions(session, ids),
        await panel_store.reviewed_at(session, m.meeting_id),
    )


@router.get("/panel/meetings/{meeting_id}", response_class=HTMLResponse)
async def meeting_page(request: Request, meeting_id: str, who: Chair) -> Response:
    async with state(request).db.transaction() as session:
        m = await panel_store.meeting(session, meeting_id)
        if m is None:
            return not_found(request, "No such meeting", "No panel meeting has this id.")
        items = await _agenda(request, session, m)
        previous = await panel_store.previous_meeting_on(session, m)
        names = await organisations(session)
        await audit.record(
            session,
            who,
            "view-panel-meeting",
            meeting_id,
            state(request).now(),
            f"{len(items)} child(ren) on the agenda",
        )
    return render(
        request,
        "panel_meeting.html",
        {
            "meeting": m,
            "items": items,
            "previous": previous,
            "names": names,
            "today": today(request),
            "reason_text": REASON_TEXT,
        },
    )

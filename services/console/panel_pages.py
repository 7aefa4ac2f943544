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
from services.console.days import LONDON, day_after, day_start
from services.console.organisation_names import OrganisationNames
from services.console.panel import (
    REASON_TEXT,
    RISK_VIEWS,
    Action,
    ActionDraft,
    Meeting,
    MeetingForm,
    Problem,
    ReviewForm,
    action_form,
    agenda,
    changed_fields,
    check_action_change,
    check_meeting,
    check_review,
    draft_of,
)
from services.console.rendering import not_found, render
from services.console.sessions import SignedIn
from services.console.state import state
from services.console.watchlist import watchlist
from services.runtime.messaging import publish_later
from services.runtime.service import ServiceRuntime

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


async def _publish(
    request: Request, session: AsyncSession, actions: list[Action], names: dict[str, str]
) -> None:
    runtime: ServiceRuntime = state(request).runtime
    now = state(request).now()
    for a in actions:
        held_on = await panel_store.meeting_on(session, a.meeting_id)
        assert held_on is not None
        message = panel_store.action_message(a, held_on, names.get(a.owner_code, a.owner_code), now)
        await publish_later(
            session,
            runtime.tables,
            runtime.settings.topic(PANEL_ACTIONS.wire),
            a.action_id,
            message,
        )


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


async def _child_page(
    request: Request,
    session: AsyncSession,
    m: Meeting,
    child_id: str,
    form: ReviewForm | None = None,
    problems: list[Problem] | None = None,
    saved: bool = False,
) -> Response:
    label = (await panel_store.labels(session, [child_id])).get(child_id)
    if label is None:
        return not_found(request, "No such child", "No episode has this child id.")
    reviews = await panel_store.reviews_of(session, child_id)
    here = next((r for r in reviews if r.meeting_id == m.meeting_id), None)
    if form is None:
        form = ReviewForm()
        if here is not None:
            form.decision, form.risk_view = here.decision, here.risk_view
            form.next_review = here.next_review_on.isoformat() if here.next_review_on else ""
    return render(
        request,
        "panel_child.html",
        {
            "meeting": m,
            "label": label,
            "reviews": reviews,
            "actions": await panel_store.actions_of(session, child_id),
            "names": await organisations(session),
            "form": form,
            "problems": problems or [],
            "risk_views": RISK_VIEWS,
            "saved": saved,
            "today": today(request),
        },
        status_code=400 if problems else 200,
    )


@router.get("/panel/meetings/{meeting_id}/children/{child_id}", response_class=HTMLResponse)
async def child_form(request: Request, meeting_id: str, child_id: str, who: Chair) -> Response:
    async with state(request).db.transaction() as session:
        m = await panel_store.meeting(session, meeting_id)
        if m is None:
            return not_found(request, "No such meeting", "No panel meeting has this id.")
        await audit.record(
            session,
            who,
            "view-panel-child",
            child_id,
            state(request).now(),
            f"meeting {meeting_id}",
        )
        return await _child_page(request, session, m, child_id)


@router.post("/panel/meetings/{meeting_id}/children/{child_id}", response_class=HTMLResponse)
async def record_child(request: Request, meeting_id: str, child_id: str, who: Chair) -> Response:
    data = await request.form()
    check_csrf(who, str(data.get("csrf_token") or "")[:100])
    form = ReviewForm.of(
        {k: str(v) for k, v in data.items() if isinstance(v, str)},
        [str(v) for v in data.getlist("done")],
    )
    now = state(request).now()
    async with state(request).db.transaction() as session:
        m = await panel_store.meeting(session, meeting_id)
        if m is None:
            return not_found(request, "No such meeting", "No panel meeting has this id.")
        names = await organisations(session)
        mine = [
            a.action_id
            for a in await panel_store.actions_of(session, child_id)
            if a.state == "open"
        ]
        checked = check_review(form, names, mine, m.held_on)
        if isinstance(checked, list):
            return await _child_page(request, session, m, child_id, form, checked)
        new, done = await panel_store.record_review(
            session, m, child_id, checked, who.user.username, now
        )
        await _publish(request, session, [*new, *done], names)
        await audit.record(
            session,
            who,
            "record-panel-decision",
            child_id,
            now,
            f"meeting {meeting_id}: {len(new)} new action(s), {len(done)} done",
        )
        response = await _child_page(request, session, m, child_id, saved=True)
    state(request).runtime.relay.wake()
    log.info(
        "console: panel decision on child %s at meeting %s by %s",
        child_id,
        meeting_id,
        who.user.username,
    )
    return response


async def _action_page(
    request: Request,
    session: AsyncSession,
    a: Action,
    form: ActionDraft | None = None,
    problems: list[Problem] | None = None,
    saved: str | None = None,
) -> Response:
    return render(
        request,
        "panel_action.html",
        {
            "action": a,
            "meeting": await panel_store.meeting(session, a.meeting_id),
            "names": await organisations(session),
            "form": form or action_form(a),
            "problems": problems or [],
            "saved": saved,
            "today": today(request),
        },
        status_code=400 if problems else 200,
    )


# What the page says after a change (``?saved=``), so a reload does not post again.
SAVED = {
    "changed": "The action is changed. Still open the day after it falls due, it is "
    "emailed to its owner.",
    "done": "The action is marked done.",
    "reopened": "The action is open again. Still open the day after it falls due, it is "
    "emailed to its owner.",
}


@router.get("/panel/actions/{action_id}", response_class=HTMLResponse)
async def action_page(request: Request, action_id: str, who: Chair) -> Response:
    async with state(request).db.transaction() as session:
        a = await panel_store.action(session, action_id)
        if a is None:
            return not_found(request, "No such action", "No panel action has this id.")
        await audit.record(
            session, who, "view-panel-action", a.child_id, state(request).now(), action_id
        )
        saved = SAVED.get(str(request.query_params.get("saved", "")))
        return await _action_page(request, session, a, saved=saved)


@router.post("/panel/actions/{action_id}", response_class=HTMLResponse)
async def change_action(request: Request, action_id: str, who: Chair) -> Response:
    """The chair changes the action's text, owner or due date, checked as a new one is."""
    data = await request.form()
    check_csrf(who, str(data.get("csrf_token") or "")[:100])
    draft = draft_of({k: str(v) for k, v in data.items() if isinstance(v, str)})
    now = state(request).now()
    async with state(request).db.transaction() as session:
        a = await panel_store.action(session, action_id)
        if a is None:
            return not_found(request, "No such action", "No panel action has this id.")
        held_on = await panel_store.meeting_on(session, a.meeting_id)
        assert held_on is not None
        names = await organisations(session)
        checked = check_action_change(draft, names, held_on)
        if isinstance(checked, list):
            return await _action_page(request, session, a, draft, checked)
        fields = changed_fields(a, checked)
        if fields:
            changed = await panel_store.change(session, a, checked)
            await _publish(request, session, [changed], names)
            # Which fields, never what they say: the text may name the child.
            await audit.record(
                session,
                who,
                "change-panel-action",
                a.child_id,
                now,
                f"{action_id}: {', '.join(fields)}",
            )
    state(request).runtime.relay.wake()
    return RedirectResponse(f"/panel/actions/{action_id}?saved=changed", status_code=303)


async def _move_action(request: Request, action_id: str, who: SignedIn, to: str) -> Response:
    """Mark an action done or open it again: a new revision, published and audited."""
    data = await request.form()
    check_csrf(who, str(data.get("csrf_token") or "")[:100])
    now = state(request).now()
    async with state(request).db.transaction() as session:
        if to == "done":
            moved = await panel_store.complete(session, action_id, who.user.username, now)
        else:
            moved = await panel_store.reopen(session, action_id)
        if moved is not None:
            await _publish(request, session, [moved], await organisations(session))
            verb = "complete" if to == "done" else "reopen"
            await audit.record(session, who, f"{verb}-panel-action", moved.child_id, now, action_id)
    state(request).runtime.relay.wake()
    saved = "done" if to == "done" else "reopened"
    return RedirectResponse(f"/panel/actions/{action_id}?saved={saved}", status_code=303)


@router.post("/panel/actions/{action_id}/done", response_class=HTMLResponse)
async def action_done(request: Request, action_id: str, who: Chair) -> Response:
    return await _move_action(request, action_id, who, "done")


@router.post("/panel/actions/{action_id}/reopen", response_class=HTMLResponse)
async def action_reopen(request: Request, action_id: str, who: Chair) -> Response:
    return await _move_action(request, action_id, who, "open")


async def overdue_for_home(session: AsyncSession, on: date) -> list[Action]:
    """The chair's home page: open actions past their due date."""
    return await panel_store.overdue_actions(session, on)

"""One panel action (issue 20): its page, and the chair changing it, marking it done or
opening it again; each change is a new revision, published to the notifier (which emails
the owner an open action the day after it falls due) and audited (ids only)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.console import audit, panel_store
from services.console.auth import check_csrf
from services.console.panel import (
    Action,
    ActionDraft,
    Problem,
    action_form,
    changed_fields,
    check_action_change,
    draft_of,
)
from services.console.panel_pages import Chair, organisations, publish_actions, today
from services.console.rendering import not_found, render
from services.console.sessions import SignedIn
from services.console.state import state

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)


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
    async with state(request).publishing() as (session, out):
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
            await publish_actions(session, out, [changed], names, now)
            # Which fields, never what they say: the text may name the child.
            await audit.record(
                session,
                who,
                "change-panel-action",
                a.child_id,
                now,
                f"{action_id}: {', '.join(fields)}",
            )
    return RedirectResponse(f"/panel/actions/{action_id}?saved=changed", status_code=303)


async def _move_action(request: Request, action_id: str, who: SignedIn, to: str) -> Response:
    """Mark an action done or open it again: a new revision, published and audited."""
    data = await request.form()
    check_csrf(who, str(data.get("csrf_token") or "")[:100])
    now = state(request).now()
    async with state(request).publishing() as (session, out):
        if to == "done":
            moved = await panel_store.complete(session, action_id, who.user.username, now)
        else:
            moved = await panel_store.reopen(session, action_id)
        if moved is not None:
            await publish_actions(session, out, [moved], await organisations(session), now)
            verb = "complete" if to == "done" else "reopen"
            await audit.record(session, who, f"{verb}-panel-action", moved.child_id, now, action_id)
    saved = "done" if to == "done" else "reopened"
    return RedirectResponse(f"/panel/actions/{action_id}?saved={saved}", status_code=303)


@router.post("/panel/actions/{action_id}/done", response_class=HTMLResponse)
async def action_done(request: Request, action_id: str, who: Chair) -> Response:
    return await _move_action(request, action_id, who, "done")


@router.post("/panel/actions/{action_id}/reopen", response_class=HTMLResponse)
async def action_reopen(request: Request, action_id: str, who: Chair) -> Response:
    return await _move_action(request, action_id, who, "open")

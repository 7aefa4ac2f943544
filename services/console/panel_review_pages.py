"""The panel's decision about one child at a meeting (issue 20): the child's earlier
reviews and actions beside the form; a decision with its new actions, and the actions
marked done, is recorded, published to the notifier and audited (ids only)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.console import audit, panel_store
from services.console.auth import check_csrf
from services.console.panel import RISK_VIEWS, Meeting, Problem, ReviewForm, check_review
from services.console.panel_pages import Chair, organisations, publish_actions, today
from services.console.rendering import not_found, render
from services.console.state import state

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)


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
    async with state(request).publishing() as (session, out):
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
        await publish_actions(session, out, [*new, *done], names, now)
        await audit.record(
            session,
            who,
            "record-panel-decision",
            child_id,
            now,
            f"meeting {meeting_id}: {len(new)} new action(s), {len(done)} done",
        )
        response = await _child_page(request, session, m, child_id, saved=True)
    log.info(
        "console: panel decision on child %s at meeting %s by %s",
        child_id,
        meeting_id,
        who.user.username,
    )
    return response

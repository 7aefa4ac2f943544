"""The identity-review queue (DESIGN §8) for ``mash`` users: the reviews the router is
holding, oldest first; each one opens the police record beside the candidate roll
records with the matcher's explanation (which fields agreed, partly agreed or
disagreed, and the score), and the decision publishes to ``identity-decisions``. The
router then routes the held event: the organisation is told (a record chosen), or
nobody more (none of them). An MSET chair may look, not decide."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from schemas.base import derived_id
from schemas.catalogue import IDENTITY_DECISIONS
from schemas.messages import IdentityDecisionV1
from services.console import audit, review_store
from services.console.accounts import Role
from services.console.auth import allowed, check_csrf
from services.console.rendering import not_found, render
from services.console.sessions import SignedIn
from services.console.state import state

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)
NONE = "none"  # the form's value for "none of these records"

Viewer = Annotated[SignedIn, Depends(allowed(Role.MASH, Role.MSET_CHAIR))]
Reviewer = Annotated[SignedIn, Depends(allowed(Role.MASH))]


@router.get("/reviews", response_class=HTMLResponse)
async def review_queue(request: Request, who: Viewer) -> Response:
    async with state(request).db.transaction() as session:
        pending = await review_store.pending(session)
        decided = await review_store.decided(session)
    return render(request, "reviews.html", {"pending": pending, "decided": decided})


def _page(
    request: Request,
    who: SignedIn,
    review: Any,
    status: int = 200,
    error: str | None = None,
    sent: IdentityDecisionV1 | None = None,
) -> Response:
    if review is None:
        return not_found(request, "No such review", "No identity review has this id.")
    return render(
        request,
        "review.html",
        {
            "review": review,
            "child_record": json.loads(review["child"] or "{}"),
            "candidates": json.loads(review["candidates"] or "[]"),
            "can_decide": who.user.role is Role.MASH and review["decision"] is None,
            "error": error,
            "sent": sent,
            "none": NONE,
        },
        status_code=status,
    )


@router.get("/reviews/{review_id}", response_class=HTMLResponse)
async def review_page(request: Request, review_id: str, who: Viewer) -> Response:
    async with state(request).db.transaction() as session:
        review = await review_store.review(session, review_id)
        if review is not None:  # the child's record and the candidates' are shown
            await audit.record(session, who, "view-review", review_id, state(request).now(), None)
    return _page(request, who, review)


@router.post("/reviews/{review_id}", response_class=HTMLResponse)
async def decide(
    request: Request,
    review_id: str,
    who: Reviewer,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    record: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(who, csrf_token)
    async with state(request).publishing() as (session, out):
        review = await review_store.review(session, review_id)
        if review is None:
            return _page(request, who, None)
        if review["decision"] is not None:
            return _page(request, who, review, 409, "This review is already decided.")
        same_child = review["question"] == "same-child"
        field = "child_id" if same_child else "roll_record_id"
        records = {c[field] for c in json.loads(review["candidates"] or "[]")}
        if record != NONE and record not in records:
            what = "a child" if same_child else "a record"
            return _page(request, who, review, 400, f"Choose {what}, or none of them.")
        chosen = None if record == NONE else record
        # The same id as `relay reviews decide`: deciding twice publishes one decision.
        message = IdentityDecisionV1(
            message_id=derived_id(review_id, "decision"),
            review_id=review_id,
            decision="no-match" if record == NONE else "match",
            roll_record_id=None if same_child else chosen,
            child_id=chosen if same_child else None,
            decided_by=who.user.username,
            decided_at=state(request).now(),
        )
        await out.publish(IDENTITY_DECISIONS, review_id, message)
    log.info(
        "console: review %s decided (%s) by %s", review_id, message.decision, who.user.username
    )
    return _page(request, who, review, sent=message)

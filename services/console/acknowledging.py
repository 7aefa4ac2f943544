"""The acknowledgement landing page (DESIGN §7, §8): the link in every alert email.

Opening the link (GET) only shows the form: mail scanners open links, and must not
acknowledge anything. Pressing a button (POST) records the acknowledgement once and
writes an ``acknowledgements`` message to the console's outbox in the same transaction.
The same form lets the recipient answer (issue 17): "the child is with us now", "we do
not know this child", or information for the police. Every answer acknowledges too, and
goes out on ``alert-answers``; the link keeps taking answers after the acknowledgement
(a school that acknowledged at 18:00 may see the child in class at 08:50), each
distinct answer once. The page shows the police reference and the recipient
organisation, never the child: nothing beyond what the email held, and less. No login:
the signed link is the credential.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.base import derived_id
from schemas.catalogue import ACKNOWLEDGEMENTS, ALERT_ANSWERS
from schemas.messages import (
    AcknowledgementV1,
    AlertAnswerV1,
    Answer,
    ChildSummaryV1,
    IdentityCandidateV1,
    OrgKind,
)
from services.console import acknowledgement_store as store
from services.console import audit
from services.console.acknowledgement_store import LinkedAlert
from services.console.rendering import render
from services.console.state import state
from services.runtime.ack_links import AckLinkExpiredError, AckLinkInvalidError
from services.runtime.handling import Outbox

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

INFORMATION_LIMIT = 2000
# A "not known" answer disputes a roll match: only these recipients were matched on one.
_ROLL_KINDS = frozenset({OrgKind.SCHOOL.value, OrgKind.GP_PRACTICE.value, OrgKind.YOT.value})
ANSWER_LABELS = {
    Answer.HERE_NOW.value: "The child is with us now",
    Answer.NOT_KNOWN.value: "We do not know this child",
    Answer.INFORMATION.value: "We have information for the police",
}


async def _answered(session: AsyncSession, alert_id: str) -> list[dict[str, Any]]:
    return [
        {"label": ANSWER_LABELS.get(a, a), "at": at}
        for a, at in await store.answers(session, alert_id)
    ]


def _page(request: Request, status: int, state: str, **context: Any) -> HTMLResponse:
    return render(
        request,
        "acknowledge.html",
        {
            "state": state,
            "police_ref": None,
            "recipient_name": None,
            "answers": ANSWER_LABELS,
            "chosen": "",
            "information": "",
            "limit": INFORMATION_LIMIT,
            "answered": [],
            "error": None,
            "answer": None,
            "answer_code": None,
            "repeated": False,
            "token": None,
            "acknowledged_at": None,
            **context,
        },
        status_code=status,
    )


@dataclass(frozen=True)
class _Opened:
    """A verified link: its alert, when it was acknowledged (None: not yet) and the
    answers given so far."""

    alert: LinkedAlert
    used_at: datetime | None
    answered: list[dict[str, Any]]


async def _open(request: Request, token: str) -> _Opened | HTMLResponse:
    """The link's alert, or the page that refuses it (expired: 410, forged: 404)."""
    try:
        alert_id = state(request).ack_links.verify(token)
    except AckLinkExpiredError as exc:
        log.info("console: expired acknowledgement link for alert %s", exc.alert_id)
        return _page(request, 410, "expired", issued_at=exc.issued_at)
    except AckLinkInvalidError:
        return _page(request, 404, "invalid")
    async with state(request).db.transaction() as session:
        return _Opened(
            await store.alert(session, alert_id),
            await store.acknowledged_at(session, alert_id),
            await _answered(session, alert_id),
        )


@router.get("/ack/{token}", response_class=HTMLResponse)
async def show(request: Request, token: str) -> HTMLResponse:
    opened = await _open(request, token)
    if isinstance(opened, HTMLResponse):
        return opened
    about = opened.alert.about
    if opened.used_at is not None:
        return _page(
            request,
            200,
            "already",
            token=token,
            acknowledged_at=opened.used_at,
            answered=opened.answered,
            **about,
        )
    return _page(request, 200, "confirm", token=token, **about)


class _AnswerError(ValueError):
    """What the recipient must fix in the form (the page keeps what they typed)."""


def _answer_from_form(alert: LinkedAlert, form: Any, now: datetime) -> AlertAnswerV1 | None:
    """The answer the form carries (None: a plain acknowledgement), or
    :class:`_AnswerError` saying what to fix."""
    chosen = str(form.get("answer") or "")
    if not chosen:
        return None
    if chosen not in ANSWER_LABELS:
        raise _AnswerError("Choose one of the answers")
    text = str(form.get("information") or "").strip()
    if chosen == Answer.INFORMATION.value and not text:
        raise _AnswerError("Type the information for the police")
    if len(text) > INFORMATION_LIMIT:
        raise _AnswerError(
            f"The information must be {INFORMATION_LIMIT:,} characters or fewer "
            f"(it has {len(text):,})"
        )
    if alert.episode_key is None or alert.recipient_code is None:
        # The alert's request has not reached the console yet (seconds after sending).
        raise _AnswerError("This alert is still being recorded: please try again in a minute")
    force_code, episode_ref = alert.episode_key.split(":", 1)
    information = text if chosen == Answer.INFORMATION.value else None
    try:
        return AlertAnswerV1(
            message_id=derived_id("alert-answer", alert.alert_id, chosen, information or ""),
            alert_id=alert.alert_id,
            answer=Answer(chosen),
            information=information,
            answered_at=now,
            force_code=force_code,
            episode_ref=episode_ref,
            event_message_id=alert.event_message_id or "",
            recipient_code=alert.recipient_code,
            recipient_kind=OrgKind(alert.recipient_kind or OrgKind.SCHOOL.value),
            recipient_name=alert.recipient_name or alert.recipient_code,
            roll_record_id=alert.roll_record_id,
        )
    except ValidationError as exc:
        if any(e["loc"] and e["loc"][0] == "information" for e in exc.errors()):
            raise _AnswerError(
                "The information must not contain control characters (such as escape or "
                "bidirectional override characters): retype it as plain text"
            ) from exc
        raise


@router.post("/ack/{token}", response_class=HTMLResponse)
async def acknowledge(request: Request, token: str) -> HTMLResponse:
    opened = await _open(request, token)
    if isinstance(opened, HTMLResponse):
        return opened
    alert = opened.alert
    about = alert.about
    now = state(request).now()
    form = await request.form()
    try:
        answer = _answer_from_form(alert, form, now)
    except _AnswerError as problem:
        return _page(
            request,
            422,
            "already" if opened.used_at is not None else "confirm",
            token=token,
            error=str(problem),
            chosen=str(form.get("answer") or ""),
            information=str(form.get("information") or ""),
            acknowledged_at=opened.used_at,
            answered=opened.answered,
            **about,
        )
    async with state(request).publishing() as (session, out):
        # Checked again inside the transaction that records the use: two clicks at once
        # publish once (the primary key refuses the second insert).
        used = await store.acknowledged_at(session, alert.alert_id)
        if used is None:
            await _acknowledge(session, out, alert.alert_id, now)
        recorded = answer is not None and await _record_answer(session, out, alert, answer)
        answered = await _answered(session, alert.alert_id)
    if used is not None and not recorded:
        return _page(
            request,
            200,
            "already",
            token=token,
            acknowledged_at=used,
            answered=answered,
            repeated=answer is not None,
            **about,
        )
    log.info(
        "console: alert %s %s by its link",
        alert.alert_id,
        f"answered {answer.answer.value}" if answer is not None else "acknowledged",
    )
    return _page(
        request,
        200,
        "done",
        token=token,
        acknowledged_at=used or now,
        answer=ANSWER_LABELS[answer.answer.value] if answer is not None else None,
        answer_code=answer.answer.value if answer is not None else None,
        answered=answered,
        **about,
    )


async def _acknowledge(session: AsyncSession, out: Outbox, alert_id: str, now: datetime) -> None:
    await store.add_acknowledgement(session, alert_id, now)
    message = AcknowledgementV1(
        # One message per alert, however often the button is pressed.
        message_id=derived_id("acknowledgement", alert_id),
        alert_id=alert_id,
        acknowledged_at=now,
        by="acknowledgement link",
    )
    await out.publish(ACKNOWLEDGEMENTS, alert_id, message)


async def _record_answer(
    session: AsyncSession, out: Outbox, alert: LinkedAlert, answer: AlertAnswerV1
) -> bool:
    """Keep and publish an answer; False when the same answer was given already."""
    if await store.answer_seen(session, answer.message_id):
        return False
    await store.add_answer(session, answer)
    await out.publish(ALERT_ANSWERS, f"{answer.force_code}:{answer.episode_ref}", answer)
    # In the audit chain, by ids: who answered what about which alert (the words of an
    # information answer stay in the answer itself).
    await audit.record_as(
        session,
        f"{answer.recipient_code} (acknowledgement link)",
        "recipient",
        f"answer-{answer.answer.value}",
        f"alert {answer.alert_id} episode {answer.force_code}/{answer.episode_ref}",
        answer.answered_at,
        f"answer message {answer.message_id}",
    )
    if answer.answer is Answer.NOT_KNOWN and answer.recipient_kind.value in _ROLL_KINDS:
        await _review_the_match(session, alert, answer)
    return True


async def _review_the_match(
    session: AsyncSession, alert: LinkedAlert, answer: AlertAnswerV1
) -> None:
    """The disputed roll match as an identity review, beside the police record. Its id
    is the router's dispute (services/router/disputes.py): a mash user's decision
    confirms or refutes the match there."""
    child = await store.child_of_episode(session, alert.episode_key)
    candidate = IdentityCandidateV1(
        org_code=answer.recipient_code,
        roll_record_id=answer.roll_record_id or "(not recorded)",
        score=0.0,
        explanation={"answer": f"{answer.recipient_name} answered: we do not know this child"},
        org_name=answer.recipient_name,
    )
    await store.add_review(
        session,
        {
            "review_id": derived_id(alert.alert_id, "not-known"),
            "episode_key": alert.episode_key,
            "requested_at": answer.answered_at,
            "candidate_count": 1,
            "org_code": answer.recipient_code,
            "child": ChildSummaryV1(
                given_name=child.given_name, family_name=child.family_name, date_of_birth=child[2]
            ).model_dump_json()
            if child is not None and child.given_name and child.date_of_birth
            else None,
            "candidates": json.dumps([candidate.model_dump(mode="json")]),
        },
    )

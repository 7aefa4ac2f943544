"""Merging and splitting children (issue 20), for ``mash`` users and MSET chairs.

The router owns "the same child"; the console asks it (``child-identity-changes.v1``)
and shows the result when the router's links come back (``child-identities.v1``). A
merge is two steps: the person names the other child, sees both children's records side
by side, and confirms; children born on different days need the box ticked that says
so. A split names the episodes that are another child, and a reason. Refused here with
the field named (a child into itself, an unknown child, different dates of birth not
confirmed, no reason, no episode or every episode): the router checks again. Each view
and each request is audited (ids only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from schemas.base import derived_id
from schemas.catalogue import CHILD_IDENTITY_CHANGES
from schemas.child_identity import ChildIdentityChangeV1, EpisodeKeyV1
from schemas.episode import clean_text
from services.console import audit
from services.console.accounts import Role
from services.console.auth import allowed, check_csrf
from services.console.child_records import ChildRecord, child_record, suggestions
from services.console.rendering import not_found, render
from services.console.sessions import SignedIn
from services.console.state import state
from services.runtime.handling import Outbox

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)
Person = Annotated[SignedIn, Depends(allowed(Role.MASH, Role.MSET_CHAIR))]
REASON_MAX = 500


@dataclass(frozen=True)
class Problem:
    anchor: str  # the id of the input to fix
    message: str


@dataclass
class ChangeForm:
    """What the person typed, kept to show back beside the problems."""

    into: str = ""
    reason: str = ""
    confirm_dates: bool = False
    episodes: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, data: FormData) -> ChangeForm:
        return cls(
            into=str(data.get("into") or "").strip().lower()[:64],
            reason=str(data.get("reason") or "")[: REASON_MAX * 2],
            confirm_dates=data.get("confirm_dates") == "yes",
            episodes=[str(v)[:300] for v in data.getlist("episode")][:500],
        )


def _reason(form: ChangeForm, problems: list[Problem], anchor: str = "reason") -> str:
    try:
        reason = clean_text(form.reason, "lines")
    except ValueError as exc:
        problems.append(Problem(anchor, f"The reason {exc}."))
        return ""
    if not reason:
        problems.append(Problem(anchor, "Say why (for the audit): what shows it."))
    elif len(reason) > REASON_MAX:
        problems.append(Problem(anchor, f"The reason must be {REASON_MAX} characters or fewer."))
    return reason


def merge_problems(
    child: ChildRecord, other: ChildRecord | None, form: ChangeForm, confirming: bool
) -> list[Problem]:
    """Why the merge cannot be asked for (none: it can)."""
    problems: list[Problem] = []
    if not form.into:
        problems.append(Problem("into", "Enter the id of the child to merge this child into."))
    elif form.into == child.child_id:
        problems.append(Problem("into", "A child cannot be merged into itself."))
    elif other is None or not other.episodes:
        problems.append(Problem("into", f"No child has the id {form.into}."))
    if confirming:
        _reason(form, problems)
        different = other is not None and other.episodes and not _same_birthdays(child, other)
        if different and not form.confirm_dates:
            problems.append(
                Problem(
                    "confirm_dates",
                    "The two children have different dates of birth: tick the box to "
                    "confirm they are one child.",
                )
            )
    return problems


def _same_birthdays(a: ChildRecord, b: ChildRecord) -> bool:
    return a.dates_of_birth == b.dates_of_birth


def split_problems(child: ChildRecord, form: ChangeForm) -> list[Problem]:
    problems: list[Problem] = []
    theirs = {e["episode_key"] for e in child.episodes}
    chosen = set(form.episodes)
    if not chosen:
        problems.append(Problem("episodes", "Choose the episodes that are another child."))
    elif not chosen <= theirs:
        problems.append(Problem("episodes", "Choose only this child's episodes."))
    elif chosen >= theirs:
        problems.append(
            Problem("episodes", "Leave this child at least one episode: a split makes two.")
        )
    _reason(form, problems, "split-reason")
    return problems


def _page(
    request: Request,
    child: ChildRecord,
    others: list[ChildRecord],
    form: ChangeForm | None = None,
    problems: list[Problem] | None = None,
    other: ChildRecord | None = None,
    sent: ChildIdentityChangeV1 | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "child_identity.html",
        {
            "child_record": child,
            "others": others,
            "form": form or ChangeForm(),
            "problems": problems or [],
            "other": other,
            "sent": sent,
            "same_birthdays": other is not None and _same_birthdays(child, other),
        },
        status_code=status,
    )


@router.get("/children/{child_id}/identity", response_class=HTMLResponse)
async def identity_page(request: Request, child_id: str, who: Person) -> Response:
    async with state(request).db.transaction() as session:
        child = await child_record(session, child_id)
        if not child.episodes:
            return not_found(request, "No such child", "No episode has this child id.")
        others = await suggestions(session, child)
        await audit.record(
            session,
            who,
            "view-child-identity",
            child_id,
            state(request).now(),
            f"{len(child.episodes)} episode(s), {len(others)} suggested",
        )
    return _page(request, child, others)


async def _publish(
    session: AsyncSession, out: Outbox, who: SignedIn, change: ChildIdentityChangeV1
) -> None:
    await out.publish(CHILD_IDENTITY_CHANGES, change.child_id, change)
    detail = (
        f"into {change.into_child_id}"
        + (
            " (different dates of birth confirmed)"
            if change.confirmed_different_dates_of_birth
            else ""
        )
        if change.action == "merge"
        else f"{len(change.episodes)} episode(s) into {change.new_child_id}"
    )
    await audit.record(
        session, who, f"{change.action}-child", change.child_id, change.requested_at, detail
    )


@router.post("/children/{child_id}/merge", response_class=HTMLResponse)
async def merge(request: Request, child_id: str, who: Person) -> Response:
    data = await request.form()
    check_csrf(who, str(data.get("csrf_token") or "")[:100])
    form = ChangeForm.of(data)
    confirming = data.get("step") == "confirm"
    async with state(request).publishing() as (session, out):
        child = await child_record(session, child_id)
        if not child.episodes:
            return not_found(request, "No such child", "No episode has this child id.")
        other = await child_record(session, form.into) if form.into else None
        problems = merge_problems(child, other, form, confirming)
        others = await suggestions(session, child)
        if problems:
            # Side by side only with another child: refused as the child itself, the
            # page asks for the other child's id again.
            beside = other if other and other.episodes and other.child_id != child_id else None
            return _page(request, child, others, form, problems, beside, status=400)
        assert other is not None
        if not confirming:  # both records side by side, then confirm
            await audit.record(
                session,
                who,
                "view-child-identity",
                other.child_id,
                state(request).now(),
                f"beside {child_id} before a merge",
            )
            return _page(request, child, others, form, other=other)
        now = state(request).now()
        change_id = derived_id("merge", child_id, other.child_id, who.csrf_token)
        change = ChildIdentityChangeV1(
            message_id=change_id,
            change_id=change_id,
            action="merge",
            child_id=child_id,
            into_child_id=other.child_id,
            confirmed_different_dates_of_birth=not _same_birthdays(child, other),
            reason=clean_text(form.reason, "lines"),
            requested_by=who.user.username,
            requested_at=now,
        )
        await _publish(session, out, who, change)
    log.info(
        "console: merge of child %s into %s asked by %s",
        child_id,
        other.child_id,
        who.user.username,
    )
    return _page(request, child, [], form, other=other, sent=change)


@router.post("/children/{child_id}/split", response_class=HTMLResponse)
async def split(request: Request, child_id: str, who: Person) -> Response:
    data = await request.form()
    check_csrf(who, str(data.get("csrf_token") or "")[:100])
    form = ChangeForm.of(data)
    async with state(request).publishing() as (session, out):
        child = await child_record(session, child_id)
        if not child.episodes:
            return not_found(request, "No such child", "No episode has this child id.")
        problems = split_problems(child, form)
        if problems:
            others = await suggestions(session, child)
            return _page(request, child, others, form, problems, status=400)
        keys = sorted(set(form.episodes))
        change_id = derived_id("split", child_id, *keys, who.csrf_token)
        change = ChildIdentityChangeV1(
            message_id=change_id,
            change_id=change_id,
            action="split",
            child_id=child_id,
            episodes=[
                EpisodeKeyV1(force_code=k.partition(":")[0], episode_ref=k.partition(":")[2])
                for k in keys
            ],
            reason=clean_text(form.reason, "lines"),
            requested_by=who.user.username,
            requested_at=state(request).now(),
        )
        await _publish(session, out, who, change)
    log.info("console: split of child %s asked by %s", child_id, who.user.username)
    return _page(request, child, [], form, sent=change)

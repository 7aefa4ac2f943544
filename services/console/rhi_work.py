"""Return home interview work in the console (DESIGN §8): an RHI worker's queue of
their own authority's tasks, due soonest first with the overdue marked, and recording
an interview's outcome, which publishes to ``rhi-task-outcomes`` (the notifier closes
the task and says so on ``rhi-task-status``; the queue shows it closed when that
arrives). An MSET chair sees every authority's queue but records nothing.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.base import derived_id
from schemas.catalogue import RHI_TASK_OUTCOMES
from schemas.messages import RhiOutcome, RhiTaskOutcomeV1
from services.console import projections
from services.console.accounts import Role
from services.console.auth import NotAllowed, allowed, check_csrf
from services.console.rendering import not_found, render
from services.console.sessions import SignedIn
from services.console.tables import episodes, rhi_tasks
from services.runtime.messaging import publish_later
from services.runtime.service import ServiceRuntime

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)
CLOSED_SHOWN = 50

Viewer = Annotated[SignedIn, Depends(allowed(Role.RHI_WORKER, Role.MSET_CHAIR))]
Worker = Annotated[SignedIn, Depends(allowed(Role.RHI_WORKER))]


def _is_open(state: str | None) -> bool:
    return state is None or state in projections.OPEN_RHI_STATES


def _tasks_query(la_code: str | None) -> Any:
    query = select(
        rhi_tasks,
        episodes.c.initials,
        episodes.c.birth_year,
        episodes.c.force_code,
        episodes.c.episode_ref,
        episodes.c.child_key,
    ).outerjoin(episodes, episodes.c.episode_key == rhi_tasks.c.episode_key)
    if la_code is not None:
        query = query.where(rhi_tasks.c.authority_code == la_code)
    return query


async def _task(session: AsyncSession, task_id: str) -> Any:
    return (
        (await session.execute(_tasks_query(None).where(rhi_tasks.c.task_id == task_id)))
        .mappings()
        .first()
    )


def _check_authority(who: SignedIn, task: Any) -> None:
    if who.user.role is Role.RHI_WORKER and task["authority_code"] != who.user.la_code:
        raise NotAllowed(who, "This task belongs to another local authority.")


@router.get("/rhi", response_class=HTMLResponse)
async def queue(request: Request, who: Viewer) -> Response:
    la_code = who.user.la_code if who.user.role is Role.RHI_WORKER else None
    now = request.app.state.now()
    async with request.app.state.runtime.db.transaction() as session:
        open_states = rhi_tasks.c.state.is_(None) | rhi_tasks.c.state.in_(
            projections.OPEN_RHI_STATES
        )
        waiting = (
            (
                await session.execute(
                    _tasks_query(la_code)
                    .where(open_states)
                    .order_by(rhi_tasks.c.due_at, rhi_tasks.c.task_id)
                )
            )
            .mappings()
            .all()
        )
        closed = (
            (
                await session.execute(
                    _tasks_query(la_code)
                    .where(~open_states)
                    .order_by(rhi_tasks.c.state_at.desc(), rhi_tasks.c.task_id)
                    .limit(CLOSED_SHOWN)
                )
            )
            .mappings()
            .all()
        )
    return render(
        request,
        "rhi_queue.html",
        {
            "waiting": waiting,
            "closed": closed,
            "now": now,
            "overdue": sum(1 for t in waiting if t["due_at"] < now),
            "la_code": la_code,
        },
    )


@router.get("/rhi/{task_id}", response_class=HTMLResponse)
async def task_page(request: Request, task_id: str, who: Viewer) -> Response:
    async with request.app.state.runtime.db.transaction() as session:
        task = await _task(session, task_id)
    return _task_response(request, who, task, 200)


def _task_response(
    request: Request,
    who: SignedIn,
    task: Any,
    status: int,
    error: str | None = None,
    form: dict[str, str] | None = None,
    recorded: RhiTaskOutcomeV1 | None = None,
) -> Response:
    if task is None:
        return not_found(request, "No such task", "No return home interview task has this id.")
    _check_authority(who, task)
    return render(
        request,
        "rhi_task.html",
        {
            "task": task,
            "now": request.app.state.now(),
            "is_open": _is_open(task["state"]),
            "can_record": who.user.role is Role.RHI_WORKER,
            "outcomes": list(RhiOutcome),
            "error": error,
            "form": form or {"outcome": "", "reason": ""},
            "recorded": recorded,
        },
        status_code=status,
    )


@router.post("/rhi/{task_id}", response_class=HTMLResponse)
async def record_outcome(
    request: Request,
    task_id: str,
    who: Worker,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    outcome: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    check_csrf(who, csrf_token)
    runtime: ServiceRuntime = request.app.state.runtime
    now = request.app.state.now()
    form = {"outcome": outcome, "reason": reason}
    async with runtime.db.transaction() as session:
        task = await _task(session, task_id)
        if task is None or not _is_open(task["state"]):
            error = None if task is None else "This task is already closed."
            return _task_response(request, who, task, 404 if task is None else 409, error, form)
        _check_authority(who, task)
        if outcome not in {o.value for o in RhiOutcome}:
            return _task_response(request, who, task, 400, "Choose the interview's outcome.", form)
        try:
            message = RhiTaskOutcomeV1(
                message_id=derived_id("rhi-task-outcome", task_id, "console"),
                task_id=task_id,
                outcome=RhiOutcome(outcome),
                reason=reason.strip()[:1000] or None,
                recorded_by=who.user.username,
                recorded_at=now,
            )
        except ValidationError:
            return _task_response(
                request,
                who,
                task,
                400,
                "Say why an interview was not possible.",
                form,
            )
        await publish_later(
            session,
            runtime.tables,
            runtime.settings.topic(RHI_TASK_OUTCOMES.wire),
            task_id,
            message,
        )
    runtime.relay.wake()
    log.info("console: RHI task %s outcome %s recorded by %s", task_id, outcome, who.user.username)
    return _task_response(request, who, task, 200, form=form, recorded=message)

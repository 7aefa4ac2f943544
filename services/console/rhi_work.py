"""Return home interview work in the console (DESIGN §8): an RHI worker's queue of
their own authority's tasks, due soonest first with the overdue marked, and recording
the interview (issue 21: the offer, the interview, push and pull factors, harm,
referrals; services/console/rhi_record_form.py), which publishes the record to
``rhi-task-outcomes.v2`` and its outcome to ``.v1`` (the notifier closes the task and
says so on ``rhi-task-status``; the queue shows it closed when that arrives). An MSET
chair sees every authority's queue and records, but records nothing.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.catalogue import RHI_TASK_OUTCOMES, RHI_TASK_OUTCOMES_V2
from schemas.messages import RhiOutcome
from schemas.rhi_record import RhiTaskOutcomeV2
from services.console import projections, rhi_record_form, rhi_records
from services.console.accounts import Role
from services.console.auth import NotAllowedError, allowed, check_csrf
from services.console.rendering import not_found, render
from services.console.rhi_record_form import Problem, RecordForm
from services.console.sessions import SignedIn
from services.console.tables import episodes, rhi_tasks
from services.runtime.messaging import publish_later
from services.runtime.rhi_policy import RhiFactors, load_rhi_factors
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
        episodes.c.child_id,
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
        raise NotAllowedError(who, "This task belongs to another local authority.")


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
        record = await rhi_records.of_task(session, task_id)
    return _task_response(request, who, task, 200, record=record)


def _task_response(
    request: Request,
    who: SignedIn,
    task: Any,
    status: int,
    problems: list[Problem] | None = None,
    form: RecordForm | None = None,
    recorded: RhiTaskOutcomeV2 | None = None,
    record: Any = None,
) -> Response:
    if task is None:
        return not_found(request, "No such task", "No return home interview task has this id.")
    _check_authority(who, task)
    factors = _factors(request)
    return render(
        request,
        "rhi_task.html",
        {
            "task": task,
            "now": request.app.state.now(),
            "is_open": _is_open(task["state"]),
            "can_record": who.user.role is Role.RHI_WORKER,
            "outcomes": list(RhiOutcome),
            "problems": problems or [],
            "error": problems[0].message if problems else None,
            "form": form or RecordForm(),
            "recorded": recorded,
            # The record, restricted parts included: only the task's own authority and
            # the MSET chair reach this page (_check_authority above).
            "record": rhi_record_form.shown(record),
            "push_factors": rhi_record_form.options(factors.push),
            "pull_factors": rhi_record_form.options(factors.pull),
            "offer_methods": rhi_record_form.OFFER_METHODS,
            "harm_kinds": rhi_record_form.HARM_KINDS,
            "referrals": rhi_record_form.REFERRALS,
        },
        status_code=status,
    )


def _factors(request: Request) -> RhiFactors:
    # Read once per app: the policy file is checked at start-up like every table.
    factors: RhiFactors | None = getattr(request.app.state, "rhi_factors", None)
    if factors is None:
        factors = load_rhi_factors(request.app.state.runtime.settings)
        request.app.state.rhi_factors = factors
    return factors


@router.post("/rhi/{task_id}", response_class=HTMLResponse)
async def record_outcome(request: Request, task_id: str, who: Worker) -> Response:
    data = await request.form()
    check_csrf(who, str(data.get("csrf_token") or "")[:100])
    form = RecordForm.of(data)
    runtime: ServiceRuntime = request.app.state.runtime
    now = request.app.state.now()
    async with runtime.db.transaction() as session:
        task = await _task(session, task_id)
        if task is None or not _is_open(task["state"]):
            closed = [Problem("outcome", "This task is already closed.")]
            return _task_response(
                request, who, task, 404 if task is None else 409, closed if task else None, form
            )
        _check_authority(who, task)
        recorded_before = await rhi_records.of_task(session, task_id)
        if recorded_before is not None:
            # The notifier has not closed the task yet: the first record stands.
            already = [Problem("outcome", "This interview is already recorded.")]
            return _task_response(request, who, task, 409, already, form, record=recorded_before)
        factors = _factors(request)
        built = rhi_record_form.build(
            form,
            task_id=task_id,
            returned_at=task["returned_at"] or task["due_at"],
            recorded_by=who.user.username,
            now=now,
            push=factors.push,
            pull=factors.pull,
        )
        if not isinstance(built, RhiTaskOutcomeV2):
            return _task_response(request, who, task, 400, built, form)
        # The record for the console (v2) and what closes the task for the notifier (v1):
        # schemas/rhi_record.py says why both.
        await rhi_records.keep(session, built)
        for topic, message in (
            (RHI_TASK_OUTCOMES_V2, built),
            (RHI_TASK_OUTCOMES, built.as_v1()),
        ):
            await publish_later(
                session, runtime.tables, runtime.settings.topic(topic.wire), task_id, message
            )
    runtime.relay.wake()
    log.info(
        "console: RHI task %s outcome %s recorded by %s", task_id, built.outcome, who.user.username
    )
    return _task_response(request, who, task, 200, form=form, recorded=built)

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

from schemas.catalogue import RHI_TASK_OUTCOMES, RHI_TASK_OUTCOMES_V2
from schemas.messages import RhiOutcome
from schemas.rhi_record import RhiTaskOutcomeV2
from services.console import rhi_record_form, rhi_records, rhi_rows, rhi_task_store
from services.console.accounts import Role
from services.console.auth import NotAllowedError, allowed, check_csrf
from services.console.rendering import not_found, render
from services.console.rhi_record_form import Problem, RecordForm
from services.console.sessions import SignedIn
from services.console.state import state

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

Viewer = Annotated[SignedIn, Depends(allowed(Role.RHI_WORKER, Role.MSET_CHAIR))]
Worker = Annotated[SignedIn, Depends(allowed(Role.RHI_WORKER))]


def _is_open(state: str | None) -> bool:
    return state is None or state in rhi_rows.OPEN_RHI_STATES


def _check_authority(who: SignedIn, task: Any) -> None:
    if who.user.role is Role.RHI_WORKER and task["authority_code"] != who.user.la_code:
        raise NotAllowedError(who, "This task belongs to another local authority.")


@router.get("/rhi", response_class=HTMLResponse)
async def queue(request: Request, who: Viewer) -> Response:
    la_code = who.user.la_code if who.user.role is Role.RHI_WORKER else None
    now = state(request).now()
    async with state(request).db.transaction() as session:
        waiting = await rhi_task_store.waiting(session, la_code)
        closed = await rhi_task_store.closed(session, la_code)
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
    async with state(request).db.transaction() as session:
        task = await rhi_task_store.task(session, task_id)
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
    factors = state(request).rhi_factors
    return render(
        request,
        "rhi_task.html",
        {
            "task": task,
            "now": state(request).now(),
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


@router.post("/rhi/{task_id}", response_class=HTMLResponse)
async def record_outcome(request: Request, task_id: str, who: Worker) -> Response:
    data = await request.form()
    check_csrf(who, str(data.get("csrf_token") or "")[:100])
    form = RecordForm.of(data)
    now = state(request).now()
    async with state(request).publishing() as (session, out):
        task = await rhi_task_store.task(session, task_id)
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
        factors = state(request).rhi_factors
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
            await out.publish(topic, task_id, message)
    log.info(
        "console: RHI task %s outcome %s recorded by %s", task_id, built.outcome, who.user.username
    )
    return _task_response(request, who, task, 200, form=form, recorded=built)

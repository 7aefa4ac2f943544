"""``relay tasks complete``: record a return home interview from the command line, with
the same record as the console's form (issue 21). The task must be open in the
notifier's store; the record goes to ``rhi-task-outcomes.v2`` and its v1 projection to
``rhi-task-outcomes.v1`` (schemas/rhi_record.py says why both), which closes the task.

Nothing of the record is printed: the command answers with the task id and outcome."""

from __future__ import annotations

import asyncio
from datetime import datetime
from functools import partial
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from pydantic import ValidationError

from schemas.base import derived_id
from schemas.catalogue import RHI_TASK_OUTCOMES, RHI_TASK_OUTCOMES_V2
from schemas.errors import field_errors
from schemas.messages import FieldErrorV1, RhiOutcome
from schemas.rhi_record import (
    HarmKind,
    OfferMethod,
    Referral,
    RhiTaskOutcomeV2,
    factor_problems,
    timing_problems,
)
from services.notifier import repository
from services.notifier.model import RhiTask
from services.runtime.database import Database, utcnow
from services.runtime.one_off import run_with_database
from services.runtime.rhi_policy import load_rhi_factors
from services.runtime.settings import RelaySettings

LONDON = ZoneInfo("Europe/London")
# The option that sets each field of the record, for error messages.
OPTIONS = {
    "reason": "--reason",
    "recorded_by": "--by",
    "offer": "--offered-at",
    "offer.offered_at": "--offered-at",
    "offer.method": "--offered-how",
    "offer.accepted": "--accepted/--not-accepted",
    "interviewed_at": "--interviewed-at",
    "interviewer": "--interviewer",
    "interviewer.name": "--interviewer",
    "interviewer.organisation": "--interviewer-org",
    "interviewer.independent": "--independent/--not-independent",
    "whereabouts": "--where",
    "with_whom": "--with-whom",
    "push_factors": "--push",
    "pull_factors": "--pull",
    "harm_kinds": "--harm",
    "harm_disclosed": "--harm/--no-harm",
    "child_words": "--child-words",
    "referrals": "--referral",
    "shared_with_police": "--shared-with-police/--not-shared-with-police",
}
WHEN_HELP = "ISO 8601, e.g. 2026-11-25T15:30; without an offset, UK time"


def parse_when(value: str | None, option: str) -> datetime | None:
    """A time typed by a person: ISO 8601; a time without an offset is Europe/London."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(f"{value!r}: not a time; {WHEN_HELP}", param_hint=option) from None
    return moment.replace(tzinfo=LONDON) if moment.tzinfo is None else moment


def _refuse(problems: list[FieldErrorV1]) -> typer.BadParameter:
    first = problems[0]
    return typer.BadParameter(
        f"{first.field.replace('_', ' ')}: {first.message}",
        param_hint=OPTIONS.get(first.field, first.field),
    )


# The command's arguments and options, named once so the command reads as its steps.
TaskIdArg = Annotated[str, typer.Argument(help="the task id, from `relay tasks list`")]
OutcomeOpt = Annotated[
    RhiOutcome, typer.Option(help="what happened to the interview", case_sensitive=False)
]
ByOpt = Annotated[str, typer.Option(help="who records it (name or role)")]
ReasonOpt = Annotated[
    str | None,
    typer.Option(help="why; required when the outcome is declined or not-possible"),
]
OfferedAtOpt = Annotated[
    str | None, typer.Option(help=f"when the interview was offered ({WHEN_HELP})")
]
OfferedHowOpt = Annotated[
    OfferMethod, typer.Option(help="how it was offered", case_sensitive=False)
]
AcceptedOpt = Annotated[
    bool | None,
    typer.Option(
        "--accepted/--not-accepted",
        help="whether the child accepted the offer (default: unless declined)",
    ),
]
InterviewedAtOpt = Annotated[
    str | None,
    typer.Option(help=f"when the interview took place; required when completed ({WHEN_HELP})"),
]
InterviewerOpt = Annotated[
    str | None, typer.Option(help="who interviewed the child; required when completed")
]
InterviewerOrgOpt = Annotated[str | None, typer.Option(help="the interviewer's organisation")]
IndependentOpt = Annotated[
    bool | None,
    typer.Option(
        "--independent/--not-independent",
        help="the interviewer is not involved in the child's care; say which when completed",
    ),
]
WhereOpt = Annotated[str | None, typer.Option(help="where the child was (restricted)")]
WithWhomOpt = Annotated[str | None, typer.Option(help="with whom (restricted)")]
PushOpt = Annotated[
    list[str] | None, typer.Option(help="a push factor from the policy's list; repeat")
]
PullOpt = Annotated[
    list[str] | None, typer.Option(help="a pull factor from the policy's list; repeat")
]
HarmOpt = Annotated[
    list[HarmKind] | None,
    typer.Option(help="harm the child disclosed, of this kind; repeat", case_sensitive=False),
]
NoHarmOpt = Annotated[bool, typer.Option("--no-harm", help="the child disclosed no harm")]
ChildWordsOpt = Annotated[str | None, typer.Option(help="the child's own words (restricted)")]
ReferralOpt = Annotated[
    list[Referral] | None, typer.Option(help="referred on to; repeat", case_sensitive=False)
]
SharedOpt = Annotated[
    bool | None,
    typer.Option("--shared-with-police/--not-shared-with-police", help="shared with police"),
]


def register(tasks_app: typer.Typer) -> None:
    tasks_app.command("complete")(tasks_complete)


def tasks_complete(
    task_id: TaskIdArg,
    outcome: OutcomeOpt,
    by: ByOpt,
    reason: ReasonOpt = None,
    offered_at: OfferedAtOpt = None,
    offered_how: OfferedHowOpt = OfferMethod.IN_PERSON,
    accepted: AcceptedOpt = None,
    interviewed_at: InterviewedAtOpt = None,
    interviewer: InterviewerOpt = None,
    interviewer_org: InterviewerOrgOpt = None,
    independent: IndependentOpt = None,
    where: WhereOpt = None,
    with_whom: WithWhomOpt = None,
    push: PushOpt = None,
    pull: PullOpt = None,
    harm: HarmOpt = None,
    no_harm: NoHarmOpt = False,
    child_words: ChildWordsOpt = None,
    referral: ReferralOpt = None,
    shared_with_police: SharedOpt = None,
) -> None:
    """Record a return home interview (closes the task, stops reminders): the offer,
    the interview, who did it, what the child said. `interviewed_at` before the
    return, or in the future, is refused, as is a declined interview without a reason."""
    if harm and no_harm:
        raise typer.BadParameter("--harm and --no-harm together", param_hint="--no-harm")
    settings = RelaySettings()
    now = utcnow()
    task = _open_task(settings, task_id)
    offered = parse_when(offered_at, "--offered-at")
    fields: dict[str, Any] = {
        "message_id": derived_id("rhi-task-outcome", task_id, now.isoformat()),
        "task_id": task_id,
        "outcome": outcome,
        "reason": reason,
        "recorded_by": by,
        "recorded_at": now,
        "offer": _offer(offered, offered_how, outcome, accepted),
        "interviewed_at": parse_when(interviewed_at, "--interviewed-at"),
        "interviewer": _interviewer(interviewer, interviewer_org, independent),
        "whereabouts": where,
        "with_whom": with_whom,
        "push_factors": push or [],
        "pull_factors": pull or [],
        "harm_disclosed": True if harm else (False if no_harm else None),
        "harm_kinds": harm or [],
        "child_words": child_words,
        "referrals": referral or [],
        "shared_with_police": shared_with_police,
    }
    record = _checked_record(settings, fields, task, now)
    asyncio.run(_publish(settings, record))
    typer.echo(
        f"task {task_id}: {record.outcome.value} sent to {RHI_TASK_OUTCOMES_V2.wire} "
        f"and {RHI_TASK_OUTCOMES.wire}"
    )


def _open_task(settings: RelaySettings, task_id: str) -> RhiTask:
    task = run_with_database(
        settings.database_url_for("notifier"), partial(_fetch_task, task_id=task_id)
    )
    if task is None:
        raise typer.BadParameter(f"no RHI task {task_id!r}", param_hint="TASK_ID")
    if task.state not in repository.OPEN_TASK_STATES:
        raise typer.BadParameter(
            f"task {task_id} is already closed ({task.state}, recorded "
            f"{task.outcome_recorded_at:%Y-%m-%d %H:%M} by {task.outcome_recorded_by})",
            param_hint="TASK_ID",
        )
    return task


def _offer(
    offered: datetime | None, how: OfferMethod, outcome: RhiOutcome, accepted: bool | None
) -> dict[str, Any] | None:
    if offered is None:
        return None
    return {
        "offered_at": offered,
        "method": how,
        "accepted": outcome is not RhiOutcome.DECLINED if accepted is None else accepted,
    }


def _interviewer(
    name: str | None, organisation: str | None, independent: bool | None
) -> dict[str, Any] | None:
    if name is None:
        return None
    if independent is None:
        raise typer.BadParameter(
            "say whether the interviewer is independent of the child's carers",
            param_hint="--independent/--not-independent",
        )
    return {"name": name, "organisation": organisation, "independent": independent}


def _checked_record(
    settings: RelaySettings, fields: dict[str, Any], task: RhiTask, now: datetime
) -> RhiTaskOutcomeV2:
    """The record, valid on its own and against the task and the policy's factors."""
    try:
        record = RhiTaskOutcomeV2.model_validate(fields)
    except ValidationError as exc:
        raise _refuse([FieldErrorV1(**e) for e in field_errors(exc)]) from None
    factors = load_rhi_factors(settings)
    problems = timing_problems(record, task.returned_at, now) + factor_problems(
        record, factors.push, factors.pull
    )
    if problems:
        raise _refuse(problems)
    return record


async def _publish(settings: RelaySettings, record: RhiTaskOutcomeV2) -> None:
    """The record, then its v1 projection (what closes the task): a failure between the
    two leaves the task open, and the record may be given again."""
    from services.runtime.kafka import create_broker

    broker = create_broker(settings, client_id="relay-tasks-complete")
    await broker.start()
    try:
        for topic, message in (
            (RHI_TASK_OUTCOMES_V2, record),
            (RHI_TASK_OUTCOMES, record.as_v1()),
        ):
            await broker.publish(
                message.model_dump_json().encode(),
                topic=settings.topic(topic.wire),
                key=record.task_id.encode(),
                headers={"message_id": message.message_id, "content-type": "application/json"},
            )
    finally:
        await broker.stop()


async def _fetch_task(db: Database, task_id: str) -> RhiTask | None:
    async with db.transaction() as session:
        return await repository.get_task(session, task_id)

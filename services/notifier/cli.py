"""``relay alerts list``, ``relay tasks list`` and ``relay tasks complete``: ids and
states only, never a child's name or date of birth."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from schemas.base import derived_id
from schemas.catalogue import RHI_TASK_OUTCOMES
from schemas.messages import AlertState, RhiOutcome, RhiTaskOutcomeV1, RhiTaskState
from services.notifier import repository
from services.runtime.database import Database, utcnow
from services.runtime.settings import RelaySettings

ALERT_COLUMNS = (
    "alert_id",
    "kind",
    "recipient_code",
    "recipient_kind",
    "recipient_email",
    "force_code",
    "episode_ref",
    "state",
    "attempts",
    "created_at",
    "sent_at",
    "due_at",
    "ack_due_at",
    "escalation_level",
    "acknowledged_at",
    "answer",
    "answered_at",
    "parent_alert_id",
)
TASK_COLUMNS = (
    "task_id",
    "authority_code",
    "force_code",
    "episode_ref",
    "returned_at",
    "due_at",
    "state",
    "reminded_at",
    "escalated_at",
    "outcome_recorded_at",
)


def register(app: typer.Typer) -> None:
    alerts_app = typer.Typer(no_args_is_help=True, help="Alerts the notifier holds.")
    tasks_app = typer.Typer(no_args_is_help=True, help="Return home interview tasks.")
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(tasks_app, name="tasks")

    @alerts_app.command("list")
    def alerts_list(
        as_json: Annotated[bool, typer.Option("--json", help="one JSON array")] = False,
        state: Annotated[str | None, typer.Option(help="only this state")] = None,
        limit: Annotated[int, typer.Option(min=1, help="at most this many, newest first")] = 100,
    ) -> None:
        """List alerts: ids, recipients and delivery state."""
        _check(state, AlertState, "--state")
        rows = asyncio.run(_fetch(repository.list_alerts, state, limit))
        _show(rows, ALERT_COLUMNS, as_json, "alerts")

    @tasks_app.command("list")
    def tasks_list(
        as_json: Annotated[bool, typer.Option("--json", help="one JSON array")] = False,
        state: Annotated[str | None, typer.Option(help="only this state")] = None,
        limit: Annotated[int, typer.Option(min=1, help="at most this many, soonest due")] = 1000,
    ) -> None:
        """List RHI tasks: ids, authority and deadline."""
        _check(state, RhiTaskState, "--state")
        rows = asyncio.run(_fetch(repository.list_tasks, state, limit))
        _show(rows, TASK_COLUMNS, as_json, "tasks")

    @tasks_app.command("complete")
    def tasks_complete(
        task_id: Annotated[str, typer.Argument(help="the task id, from `relay tasks list`")],
        outcome: Annotated[
            RhiOutcome, typer.Option(help="what happened to the interview", case_sensitive=False)
        ],
        by: Annotated[str, typer.Option(help="who records it (name or role)")],
        reason: Annotated[
            str | None, typer.Option(help="why; required when the outcome is not-possible")
        ] = None,
    ) -> None:
        """Record a return home interview's outcome (closes the task, stops reminders)."""
        message = complete_task(task_id, outcome, reason, by, utcnow())
        typer.echo(f"task {task_id}: {message.outcome.value} sent to {RHI_TASK_OUTCOMES.wire}")


async def _publish_outcome(settings: RelaySettings, outcome: RhiTaskOutcomeV1) -> None:
    from services.runtime.kafka import create_broker

    broker = create_broker(settings, client_id="relay-tasks-complete")
    await broker.start()
    try:
        await broker.publish(
            outcome.model_dump_json().encode(),
            topic=settings.topic(RHI_TASK_OUTCOMES.wire),
            key=outcome.task_id.encode(),
            headers={"message_id": outcome.message_id, "content-type": "application/json"},
        )
    finally:
        await broker.stop()


def complete_task(
    task_id: str, outcome: RhiOutcome, reason: str | None, by: str, at: datetime
) -> RhiTaskOutcomeV1:
    """Check the task is open, then publish its outcome to ``rhi-task-outcomes`` (the
    notifier closes it from there, as it does for the console's)."""
    settings = RelaySettings()
    task = asyncio.run(_fetch_task(settings, task_id))
    if task is None:
        raise typer.BadParameter(f"no RHI task {task_id!r}", param_hint="TASK_ID")
    if task.state not in repository.OPEN_TASK_STATES:
        raise typer.BadParameter(
            f"task {task_id} is already closed ({task.state}, recorded "
            f"{task.outcome_recorded_at:%Y-%m-%d %H:%M} by {task.outcome_recorded_by})",
            param_hint="TASK_ID",
        )
    try:
        message = RhiTaskOutcomeV1(
            message_id=derived_id("rhi-task-outcome", task_id, at.isoformat()),
            task_id=task_id,
            outcome=outcome,
            reason=reason,
            recorded_by=by,
            recorded_at=at,
        )
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        text = str(first["msg"]).removeprefix("Value error, ")
        raise typer.BadParameter(text, param_hint="--reason") from None
    asyncio.run(_publish_outcome(settings, message))
    return message


async def _fetch_task(settings: RelaySettings, task_id: str) -> Any:
    db = Database(settings.database_url_for("notifier"))
    try:
        async with db.transaction() as session:
            return await repository.get_task(session, task_id)
    finally:
        await db.dispose()


def _check(value: str | None, allowed: Any, option: str) -> None:
    if value is not None and value not in {s.value for s in allowed}:
        raise typer.BadParameter(
            f"{value!r} is not a state; one of {', '.join(s.value for s in allowed)}",
            param_hint=option,
        )


async def _fetch(query: Any, state: str | None, limit: int) -> list[Any]:
    db = Database(RelaySettings().database_url_for("notifier"))
    try:
        async with db.transaction() as session:
            return await query(session, state, limit)
    finally:
        await db.dispose()


def _value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _show(rows: list[Any], columns: tuple[str, ...], as_json: bool, what: str) -> None:
    records = [{c: _value(getattr(row, c)) for c in columns} for row in rows]
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    if not records:
        typer.echo(f"no {what}")
        return
    table = Table(*columns, title=f"{len(records)} {what}")
    for record in records:
        table.add_row(*("" if record[c] is None else str(record[c]) for c in columns))
    Console().print(table)

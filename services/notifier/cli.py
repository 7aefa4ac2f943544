"""``relay alerts list``, ``relay tasks list`` and ``relay tasks complete`` (its own
module, services/notifier/rhi_record_cli.py): ids and states only, never a child's name
or date of birth."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from schemas.messages import AlertState, RhiTaskState
from services.notifier import repository, rhi_record_cli
from services.runtime.database import Database
from services.runtime.one_off import run_with_database
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
        rows = _fetch(repository.list_alerts, state, limit)
        _show(rows, ALERT_COLUMNS, as_json, "alerts")

    @tasks_app.command("list")
    def tasks_list(
        as_json: Annotated[bool, typer.Option("--json", help="one JSON array")] = False,
        state: Annotated[str | None, typer.Option(help="only this state")] = None,
        limit: Annotated[int, typer.Option(min=1, help="at most this many, soonest due")] = 1000,
    ) -> None:
        """List RHI tasks: ids, authority and deadline."""
        _check(state, RhiTaskState, "--state")
        rows = _fetch(repository.list_tasks, state, limit)
        _show(rows, TASK_COLUMNS, as_json, "tasks")

    rhi_record_cli.register(tasks_app)


def _check(value: str | None, allowed: Any, option: str) -> None:
    if value is not None and value not in {s.value for s in allowed}:
        raise typer.BadParameter(
            f"{value!r} is not a state; one of {', '.join(s.value for s in allowed)}",
            param_hint=option,
        )


def _fetch(query: Any, state: str | None, limit: int) -> list[Any]:
    async def fetch(db: Database) -> list[Any]:
        async with db.transaction() as session:
            return list(await query(session, state, limit))

    return run_with_database(RelaySettings().database_url_for("notifier"), fetch)


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

"""``relay watchlist`` and ``relay children show`` (issue 20): the console's repeat-missing
watchlist and a child's episodes, for scripts, from the console's read model
(``RELAY_CONSOLE_DATABASE_URL``). Children appear by id and initials; a child's episodes
are a view of their record, so ``children show`` is audited like the console's page."""

from __future__ import annotations

import getpass
import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DBAPIError

from services.console import audit, child_links
from services.console.child_store import child_episodes, watchlist
from services.console.episode_view import episode_line
from services.console.repeat_missing import RepeatRule, Watched
from services.runtime.database import Database, utcnow
from services.runtime.one_off import run_with_database
from services.runtime.policy_file import read_policy_file
from services.runtime.settings import RelaySettings

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def watched_json(w: Watched) -> dict[str, Any]:
    return {
        "child_id": w.child_id,
        "initials": w.initials,
        "episodes_in_window": w.episodes,
        "last_episode_at": _iso(w.last_episode_at),
        "exploitation": w.exploitation,
    }


def _run(work: Any) -> Any:
    try:
        return run_with_database(RelaySettings().database_url_for("console"), work)
    except DBAPIError as exc:
        first = (str(getattr(exc, "orig", exc)).splitlines() or [""])[0]
        typer.echo(
            f"error: console database: {first} (has `relay db upgrade console` run?)", err=True
        )
        raise typer.Exit(1) from None


def children_json(child_id: str, asked: str, views: list[Any]) -> dict[str, Any]:
    latest = views[0].episode
    out = []
    for view in views:
        line = episode_line(view)
        e = view.episode
        out.append(
            {
                "force_code": e["force_code"],
                "episode_ref": e["episode_ref"],
                "reported_at": _iso(e["first_event_at"]),
                "latest_event": {"type": e["latest_event_type"], "at": _iso(e["latest_event_at"])},
                "still_missing": line.still_missing,
                "missing_hours": round(line.missing_for.total_seconds() / 3600, 1)
                if line.missing_for
                else None,
                "risk_grade": e["risk_grade"],
                "risk_factors": line.factors,
                "withdrawn": e["withdrawn_at"] is not None,
                "events": [
                    {"type": ev["type"], "occurred_at": _iso(ev["occurred_at"])}
                    for ev in view.events
                ],
                "rhi_tasks": [
                    {
                        "task_id": t["task_id"],
                        "authority_code": t["authority_code"],
                        "state": t["state"] or "requested",
                        "due_at": _iso(t["due_at"]),
                    }
                    for t in view.rhi_tasks
                ],
            }
        )
    return {
        "child_id": child_id,
        **({"merged_from": asked} if asked != child_id else {}),
        "initials": latest["initials"],
        "birth_year": latest["birth_year"],
        "episodes": out,
    }


def register(app: typer.Typer) -> None:
    children_app = typer.Typer(no_args_is_help=True, help="Children across episodes.")
    app.add_typer(children_app, name="children")

    app.command("watchlist")(watchlist_command)
    children_app.command("show")(show)


def watchlist_command(as_json: JsonOpt = False) -> None:
    """The repeat-missing watchlist (the policy's repeat rule): exploitation first,
    then high risk, then the most episodes. Initials only: names stay on the
    (audited) child pages."""
    settings = RelaySettings()
    rule = RepeatRule.from_policy(read_policy_file(settings.policy_file))

    async def work(db: Database) -> list[Watched]:
        async with db.transaction() as session:
            return await watchlist(session, rule, utcnow())

    children: list[Watched] = _run(work)
    if as_json:
        typer.echo(json.dumps([watched_json(w) for w in children], indent=2))
        return
    table = Table(
        title=f"{len(children)} child(ren) with {rule.threshold}+ episodes in "
        f"{rule.window_days} days"
    )
    for column in ("child id", "child", "episodes", "last episode", "exploitation"):
        table.add_column(column)
    for w in children:
        table.add_row(
            w.child_id,
            f"{w.initials} ({w.birth_year})",
            str(w.episodes),
            w.last_episode_at.isoformat(timespec="minutes"),
            ", ".join(w.exploitation) or "—",
        )
    Console(soft_wrap=True).print(table)


def show(
    child_id: Annotated[str, typer.Argument(help="the child's id (relay watchlist)")],
    as_json: JsonOpt = False,
) -> None:
    """A child's episodes, newest first: events, risk, how long missing, RHI tasks.
    A view of the child's record: recorded in the console's audit. Exits 1 for a
    child the console does not know."""
    asked = child_id.strip().lower()
    operator = f"cli:{getpass.getuser()}"

    async def work(db: Database) -> tuple[str, list[Any]]:
        async with db.transaction() as session:
            found = asked
            views = await child_episodes(session, found)
            if not views:
                into = await child_links.merged_into(session, found)
                if into is not None:
                    found, views = into, await child_episodes(session, into)
            if views:
                await audit.record_as(
                    session,
                    operator,
                    "operator",
                    "view-child",
                    found,
                    utcnow(),
                    f"{len(views)} episode(s), relay children show",
                )
            return found, views

    found, views = _run(work)
    if not views:
        typer.echo(f"error: no child {asked} in the console's read model", err=True)
        raise typer.Exit(1)
    answer = children_json(found, asked, views)
    if as_json:
        typer.echo(json.dumps(answer, indent=2))
        return
    console = Console(soft_wrap=True)
    if found != asked:
        console.print(f"child {asked} was merged into {found}")
    table = Table(title=f"child {found}: {answer['initials']} ({answer['birth_year']})")
    for column in ("episode", "reported", "latest", "risk", "missing", "RHI"):
        table.add_column(column)
    for e in answer["episodes"]:
        table.add_row(
            f"{e['force_code']}/{e['episode_ref']}" + (" (withdrawn)" if e["withdrawn"] else ""),
            (e["reported_at"] or "")[:16],
            f"{e['latest_event']['type']} {(e['latest_event']['at'] or '')[:16]}",
            ", ".join([e["risk_grade"] or "—", *e["risk_factors"]]),
            "still missing" if e["still_missing"] else f"{e['missing_hours'] or '—'} h",
            ", ".join(t["state"] for t in e["rhi_tasks"]) or "—",
        )
    console.print(table)

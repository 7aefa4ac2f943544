"""``relay policy check [FILE]``: validate a partnership's policy file as the services
will at start-up, and say what it means."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from schemas.messages import OrgKind
from services.notifier.app import load_policy as notifier_policy
from services.notifier.dead_letter_notices import WATCHED
from services.notifier.operations import load_operations_email
from services.router import repository
from services.router.app import load_policy as router_policy
from services.router.coverage import authority_gaps
from services.router.directory import Organisation
from services.router.policy import RhiTrigger
from services.runtime.one_off import one_off_database
from services.runtime.retention import load_retention
from services.runtime.rhi_policy import load_rhi_factors
from services.runtime.settings import RelaySettings


def describe(settings: RelaySettings) -> list[str]:
    """What the policy says, in a few lines; raises the services' policy errors."""
    routing = router_policy(settings)
    delivery = notifier_policy(settings)
    calendar = delivery.calendar
    operations = load_operations_email(settings)
    factors = load_rhi_factors(settings)
    told = [
        f"{situation}: the responsible local authority"
        + "".join(f", {k}" for k in sorted(k.value for k in kinds))
        for situation, kinds in routing.recipients.items()
    ]
    return [
        *told,
        f"repeat missing: {routing.repeat_threshold} episodes in "
        f"{routing.repeat_window_days} days; default authority {routing.default_la or 'none'}",
        f"school alerts: acknowledge before {delivery.school_day_start:%H:%M} on the next "
        f"school day ({calendar.nation} bank holidays, {len(calendar.terms)} term(s), "
        f"{len(calendar.closures)} closure day(s))",
        f"urgent school alerts (high risk, exploitation): within {delivery.high_risk_hours:g} h "
        f"of the school day if sooner; today's register asked for until "
        f"{delivery.school_day_end:%H:%M}, after it the next school day's",
        f"other alerts: {delivery.default_ack_hours:g} h"
        + "".join(f", {kind} {hours:g} h" for kind, hours in sorted(delivery.ack_hours.items()))
        + " of working time",
        "working hours: "
        + ", ".join(f"{kind} {hours.text}" for kind, hours in sorted(delivery.hours.items()))
        + f" (not on {calendar.nation} bank holidays); other kinds every hour",
        f"escalation contact, then the local authority after {delivery.escalation_hours:g} h "
        "(of the contact's working time, for kinds with working hours)",
        f"RHI: reminder at {delivery.rhi_reminder_hours:g} h, due at {routing.rhi_due_hours} h",
        "RHI task opened on: returned"
        + (
            f", or found with no returned within {routing.rhi_found_wait_hours} h"
            if routing.rhi_trigger is RhiTrigger.FOUND
            else " (a found without returned opens none)"
        ),
        f"RHI record: push factors {', '.join(factors.push)}; pull factors "
        f"{', '.join(factors.pull)}",
        f"SMTP retries for {delivery.retry.window.total_seconds() / 3600:g} h",
        f"dead letters on {', '.join(t.name for t in WATCHED)}: "
        + (
            f"emailed to {operations} within a minute, then every day until sent back"
            if operations
            else "not emailed (no operations_email)"
        ),
        "kept for: "
        + ", ".join(f"{kind} {days} days" for kind, days in load_retention(settings).days.items()),
    ]


@dataclass(frozen=True)
class DirectoryCheck:
    """The router's directory against the routing policy (services.router.coverage):
    ``gaps`` (none: every episode has a responsible authority, or the directory could not
    be read), and a line saying what was checked or why nothing could be."""

    gaps: list[str]
    summary: str


def check_directory(settings: RelaySettings) -> DirectoryCheck:
    """Read the directory from the router's database, when there is one; raises the
    router's policy errors."""
    policy = router_policy(settings)
    url = settings.database_url_for("router")
    where = make_url(url)
    if where.get_backend_name() == "sqlite" and not (
        where.database and where.database != ":memory:" and Path(where.database).is_file()
    ):
        return DirectoryCheck(
            [],
            f"directory: not checked: no router database at {where.database} (import the "
            "directory first, or set RELAY_ROUTER_DATABASE_URL)",
        )
    try:
        organisations = asyncio.run(_organisations(url))
    except (DBAPIError, OSError) as exc:
        first = (str(getattr(exc, "orig", None) or exc) or type(exc).__name__).splitlines()[0]
        missing = "no such table" in first or ("relation" in first and "does not exist" in first)
        hint = ": run `relay db upgrade router`" if missing else ""
        return DirectoryCheck(
            [],
            f"directory: not checked: the router database cannot be read ({first[:200]}){hint}",
        )
    gaps = authority_gaps(organisations, policy)
    count = sum(1 for o in organisations if o.kind is OrgKind.LOCAL_AUTHORITY)
    if not organisations:
        summary = "directory: empty, nothing imported yet (each import checks it again)"
    else:
        summary = (
            f"directory: {len(organisations)} organisation(s), {count} local "
            f"authorit{'y' if count == 1 else 'ies'}; every episode has a responsible authority"
        )
    return DirectoryCheck(gaps, summary)


async def _organisations(url: str) -> list[Organisation]:
    async with one_off_database(url) as db, db.transaction() as session:
        return await repository.directory_organisations(session)


def register(app: typer.Typer) -> None:
    policy_app = typer.Typer(no_args_is_help=True, help="The partnership's policy file.")
    app.add_typer(policy_app, name="policy")

    @policy_app.command("check")
    def check(
        file: Annotated[
            Path | None,
            typer.Argument(help="the policy file; default RELAY_POLICY_FILE"),
        ] = None,
    ) -> None:
        """Validate a policy file as the router and notifier will, and summarise it.

        With a router database (RELAY_ROUTER_DATABASE_URL, else var/router.db), also refuse
        a directory and policy under which an episode could have no responsible local
        authority (several authorities and no default_la), naming the fix."""
        settings = RelaySettings()
        if file is not None:
            settings = settings.model_copy(update={"policy_file": file})
        name = settings.policy_file or "no policy file: the defaults"
        try:
            lines = describe(settings)
            directory = check_directory(settings)
        except ValueError as exc:  # PolicyError, PolicyFileError: they name table and key
            typer.echo(f"policy: {exc}", err=True)
            raise typer.Exit(1) from exc
        if directory.gaps:
            typer.echo(
                f"{name}: refused: with the directory in the router's database an episode "
                "could have no responsible local authority, and nobody would be told",
                err=True,
            )
            for gap in directory.gaps:
                typer.echo(f"policy: {gap}", err=True)
            raise typer.Exit(1)
        typer.echo(f"{name}: OK")
        for line in [*lines, directory.summary]:
            typer.echo(f"  {line}")

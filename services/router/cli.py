"""``relay directory ...``: import organisations and rolls, show what is loaded (DESIGN §5)."""

from __future__ import annotations

import asyncio
import csv
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.exc import DBAPIError

from services.router import importing, repository
from services.router.directory import ColumnsError
from services.runtime.database import Database
from services.runtime.settings import RelaySettings

directory_app = typer.Typer(
    no_args_is_help=True, help="The directory: organisations and their rolls."
)
import_app = typer.Typer(no_args_is_help=True, help="Import a directory CSV file.")
directory_app.add_typer(import_app, name="import")

ISSUES_SHOWN = 50

FileArg = Annotated[
    Path,
    typer.Argument(exists=True, dir_okay=False, readable=True, help="a CSV file with a header row"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the summary as JSON")]


def register(app: typer.Typer) -> None:
    app.add_typer(directory_app, name="directory")
    app.command("link")(link)


def link(
    roll: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="a roll CSV file")],
    records: Annotated[
        Path,
        typer.Option(
            exists=True, dir_okay=False, help="records to match: roll columns, org_code unused"
        ),
    ],
    out: Annotated[Path, typer.Option(dir_okay=False, help="DECISIONS.csv to write")],
    on: Annotated[
        str | None, typer.Option(help="date the rolls are read on (YYYY-MM-DD); default today")
    ] = None,
) -> None:
    """Match records against a roll file without touching any store (DESIGN §5)."""
    from services.router.linking import DECISION_COLUMNS, load_roll
    from services.router.linking import link as link_records

    err = Console(stderr=True)
    try:
        day = date.fromisoformat(on) if on else date.today()
    except ValueError as exc:
        raise typer.BadParameter(f"--on: {on!r} is not a date (YYYY-MM-DD)") from exc
    try:
        index, roll_issues = load_roll(roll)
    except ColumnsError as exc:
        err.print(f"[red]{roll}: refused: {exc}[/red]")
        raise typer.Exit(2) from exc
    counts: Counter[str] = Counter()
    issues = [f"{roll.name}: {i}" for i in roll_issues]
    try:
        with out.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, DECISION_COLUMNS)
            writer.writeheader()
            for item in link_records(index, records, day):
                if isinstance(item, dict):
                    writer.writerow(item)
                    counts[item["decision"]] += 1
                else:
                    issues.append(f"{records.name}: {item}")
    except ColumnsError as exc:
        out.unlink(missing_ok=True)
        err.print(f"[red]{records}: refused: {exc}[/red]")
        raise typer.Exit(2) from exc
    for issue in issues[:ISSUES_SHOWN]:
        err.print(f"  {issue}", style="yellow", highlight=False)
    summary = ", ".join(f"{counts[d]} {d}" for d in ("match", "review", "no-match"))
    Console().print(f"{out}: {summary}; {len(issues)} problem(s) in the input")


def _run_import(
    path: Path,
    as_json: bool,
    job: Callable[[Database, Path, importing.Progress | None], Awaitable[importing.ImportSummary]],
) -> importing.ImportSummary:
    err = Console(stderr=True)
    size = path.stat().st_size

    async def run() -> importing.ImportSummary:
        db = Database(RelaySettings().database_url_for("router"))
        try:
            if as_json:
                return await job(db, path, None)
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=True,
            ) as bar:
                task = bar.add_task(f"importing {path.name}", total=size)
                return await job(db, path, lambda done: bar.update(task, completed=done))
        finally:
            await db.dispose()

    try:
        summary = asyncio.run(run())
    except ColumnsError as exc:
        err.print(f"[red]{path}: refused, nothing changed: {exc}[/red]")
        raise typer.Exit(2) from exc
    except UnicodeDecodeError as exc:
        # Found part-way through: the one transaction rolled back.
        err.print(f"[red]{path}: refused, nothing changed: not UTF-8 text ({exc.reason})[/red]")
        raise typer.Exit(2) from exc
    except DBAPIError as exc:
        _database_error(err, exc)
    except csv.Error as exc:
        err.print(f"[red]{path}: refused, nothing changed: not a readable CSV file ({exc})[/red]")
        raise typer.Exit(2) from exc
    _report(summary, as_json)
    return summary


def _database_error(err: Console, exc: DBAPIError) -> NoReturn:
    first = (str(exc.orig) or type(exc.orig).__name__).splitlines()[0][:300]
    err.print(f"[red]router database: {first}[/red]")
    if "no such table" in first or "does not exist" in first:
        err.print("the router's tables are missing: run `relay db upgrade router` first")
    raise typer.Exit(1) from exc


def _report(summary: importing.ImportSummary, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), indent=2))
        return
    out = Console()
    out.print(
        f"{summary.path}: {summary.imported} row(s) imported, {summary.skipped} skipped, "
        f"{summary.issue_count} problem(s)"
    )
    if summary.ignored_columns:
        out.print(f"ignored column(s): {', '.join(summary.ignored_columns)}")
    heading = "kind" if summary.kind == "organisations" else "organisation"
    table = Table(heading, "rows", *(["old rows replaced"] if summary.replaced else []))
    for name, count in sorted(summary.per_organisation.items()):
        extra = [str(summary.replaced.get(name, 0))] if summary.replaced else []
        table.add_row(name, str(count), *extra)
    if summary.per_organisation:
        out.print(table)
    for issue in summary.issues[:ISSUES_SHOWN]:
        out.print(f"  {issue}", style="yellow", highlight=False)
    if summary.issue_count > ISSUES_SHOWN:
        out.print(
            f"  ... and {summary.issue_count - ISSUES_SHOWN} more (use --json for all "
            f"of the first {importing.MAX_ISSUES_KEPT})"
        )


@import_app.command("organisations")
def import_organisations(path: FileArg, as_json: JsonOpt = False) -> None:
    """Upsert organisations: code,kind,name,email[,escalation_email][,phone][,la_code]."""
    _run_import(path, as_json, importing.import_organisations)


@import_app.command("roll")
def import_roll(path: FileArg, as_json: JsonOpt = False) -> None:
    """Replace the rolls of the organisations in the file: org_code,record_id,given_name,
    family_name,date_of_birth[,sex][,nhs_number][,upn][,postcode][,address][,from][,to]."""
    _run_import(path, as_json, importing.import_roll)


@directory_app.command("stats")
def stats(as_json: JsonOpt = False) -> None:
    """Organisations per kind and roll rows per organisation."""

    async def run() -> dict[str, Any]:
        db = Database(RelaySettings().database_url_for("router"))
        try:
            async with db.transaction() as session:
                return await repository.directory_stats(session)
        finally:
            await db.dispose()

    try:
        data = asyncio.run(run())
    except DBAPIError as exc:
        _database_error(Console(stderr=True), exc)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    out = Console()
    kinds = Table("kind", "organisations", title="Organisations")
    for kind, count in data["organisations_by_kind"].items():
        kinds.add_row(kind, str(count))
    out.print(kinds)
    rolls = Table("code", "kind", "name", "roll rows", title="Rolls")
    for row in data["roll_rows_by_organisation"]:
        rolls.add_row(row["code"], row["kind"], row["name"], str(row["rows"]))
    out.print(rolls)
    out.print(f"{data['roll_rows_total']} roll row(s) in all")

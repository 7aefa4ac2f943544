"""``relay directory ...``: import organisations and rolls, show what is loaded (DESIGN §5);
``relay link``; ``relay reviews`` is services/router/review_cli.py."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.exc import DBAPIError

from services.router import importing, repository
from services.router.cli_db import database_error, router_url, with_router_db
from services.router.directory import ColumnsError, FileRefusedError
from services.router.review_cli import reviews_app
from services.router.settings import RouterSettings
from services.runtime.database import Database
from services.runtime.one_off import run_with_database
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
FilesArg = Annotated[
    list[Path],
    typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV files with a header row"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the summary as JSON")]


def register(app: typer.Typer) -> None:
    app.add_typer(directory_app, name="directory")
    app.command("link")(link)
    app.add_typer(reviews_app, name="reviews")


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
    model_file: Annotated[
        Path | None,
        typer.Option("--model", help="matching model; default RELAY_MATCHING_MODEL_FILE"),
    ] = None,
) -> None:
    """Match records against a roll file without touching any store (DESIGN §5)."""
    from services.router import gp_coverage
    from services.router.linking import DECISION_COLUMNS, load_roll
    from services.router.linking import link as link_records
    from services.router.model import ModelFileError, read_model
    from services.router.name_frequencies import for_matching, of_roll

    err = Console(stderr=True)
    try:
        model = read_model(model_file or RouterSettings().matching_model_file)
    except ModelFileError as exc:
        err.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from exc
    try:
        day = date.fromisoformat(on) if on else date.today()
    except ValueError as exc:
        raise typer.BadParameter(f"--on: {on!r} is not a date (YYYY-MM-DD)") from exc
    try:
        index, roll_issues = load_roll(roll)
    except ColumnsError as exc:
        err.print(f"[red]{roll}: refused: {exc}[/red]")
        raise typer.Exit(2) from exc
    # The roll file's own name frequencies and GP coverage, as the router would use it
    # imported.
    chosen = for_matching(model, of_roll(index.records))
    err.print(f"name frequencies from the {chosen.describe()}", highlight=False)
    coverage = gp_coverage.of_records(index.records)
    model, resolution = gp_coverage.for_matching(chosen.model, coverage)
    if resolution.configured == "auto":
        err.print(
            f"other_given_name_at_home=auto: {resolution.describe()}",
            highlight=False,
            soft_wrap=True,  # one line, as the router logs it
        )
    counts: Counter[str] = Counter()
    issues = [f"{roll.name}: {i}" for i in roll_issues]
    try:
        with out.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, DECISION_COLUMNS)
            writer.writeheader()
            for item in link_records(index, records, day, model):
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


Job = Callable[
    [Database, list[Path], importing.Progress | None], Awaitable[list[importing.ImportSummary]]
]


def _run_import(paths: list[Path], as_json: bool, job: Job) -> list[importing.ImportSummary]:
    err = Console(stderr=True, soft_wrap=True)  # whole lines: file paths must stay copyable
    size = sum(path.stat().st_size for path in paths)
    where = ", ".join(str(path) for path in paths)
    label = paths[0].name if len(paths) == 1 else f"{len(paths)} files"

    async def run(db: Database) -> list[importing.ImportSummary]:
        if as_json:
            return await job(db, paths, None)
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task(f"importing {label}", total=size)
            return await job(db, paths, lambda done: bar.update(task, completed=done))

    try:
        summaries = run_with_database(router_url(), run)
    except FileRefusedError as exc:
        err.print(f"[red]{where}: refused, nothing changed: {exc}[/red]")
        raise typer.Exit(2) from exc
    except UnicodeDecodeError as exc:
        # Found part-way through: the one transaction rolled back.
        err.print(f"[red]{where}: refused, nothing changed: not UTF-8 text ({exc.reason})[/red]")
        raise typer.Exit(2) from exc
    except DBAPIError as exc:
        database_error(err, exc)
    except csv.Error as exc:
        err.print(f"[red]{where}: refused, nothing changed: not a readable CSV file ({exc})[/red]")
        raise typer.Exit(2) from exc
    if as_json and len(summaries) > 1:
        typer.echo(json.dumps([s.as_dict() for s in summaries], indent=2))
    else:
        for summary in summaries:
            _report(summary, as_json)
    return summaries


async def _organisations(
    db: Database, paths: list[Path], progress: importing.Progress | None
) -> list[importing.ImportSummary]:
    summary = await importing.import_organisations(db, paths[0], progress)
    summary.authority_gaps = await _authority_gaps(db)
    return [summary]


async def _authority_gaps(db: Database) -> list[str]:
    """What the directory now leaves without a responsible authority under the policy
    the router will run with (issue 17)."""
    from services.router.app import directory_gaps, load_policy

    try:
        policy = load_policy(RelaySettings())
    except ValueError as exc:  # PolicyError, PolicyFileError: the import still stands
        return [f"could not be checked: the policy file cannot be read: {exc}"]
    return await directory_gaps(db, policy)


def _warn_authority_gaps(summary: importing.ImportSummary) -> None:
    """Loud, on stderr: imported, yet some episode would reach nobody."""
    if not summary.authority_gaps:
        return
    err = Console(stderr=True, soft_wrap=True)
    err.print(
        "WARNING: an episode could have no responsible local authority: its events would "
        "be dead-lettered and nobody told about the child.",
        style="bold red",
        markup=False,
        highlight=False,
    )
    for gap in summary.authority_gaps:
        err.print(f"  - {gap}", style="red", markup=False, highlight=False)
    err.print(
        "The router refuses to start until this is fixed; `relay policy check` checks again.",
        style="red",
        markup=False,
        highlight=False,
    )


def _report(summary: importing.ImportSummary, as_json: bool) -> None:
    _warn_authority_gaps(summary)
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
    if summary.authority_gaps:
        out.print(
            f"responsible authority: {len(summary.authority_gaps)} problem(s), an episode "
            "could reach nobody (see the warning)",
            style="bold red",
            highlight=False,
        )


@import_app.command("organisations")
def import_organisations(path: FileArg, as_json: JsonOpt = False) -> None:
    """Upsert organisations: code,kind,name,email[,escalation_email][,phone][,la_code]
    [,out_of_hours_email] (a local authority's out-of-hours team)."""
    _run_import([path], as_json, _organisations)


@import_app.command("roll")
def import_roll(paths: FilesArg, as_json: JsonOpt = False) -> None:
    """Replace the rolls of the organisations in the files: org_code,record_id,given_name,
    family_name,date_of_birth[,sex][,nhs_number][,upn][,postcode][,address][,from][,to].
    Several files are one import: all of them or none, and faster than one by one."""
    _run_import(paths, as_json, importing.import_rolls)


async def _directory_stats(db: Database) -> dict[str, Any]:
    async with db.transaction() as session:
        return await repository.directory_stats(session)


@directory_app.command("stats")
def stats(as_json: JsonOpt = False) -> None:
    """Organisations per kind and roll rows per organisation."""
    data: dict[str, Any] = with_router_db(_directory_stats)
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

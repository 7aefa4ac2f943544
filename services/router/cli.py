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
from services.router.directory import ColumnsError, FileRefusedError
from services.runtime.database import Database
from services.runtime.settings import RelaySettings

directory_app = typer.Typer(
    no_args_is_help=True, help="The directory: organisations and their rolls."
)
import_app = typer.Typer(no_args_is_help=True, help="Import a directory CSV file.")
directory_app.add_typer(import_app, name="import")
reviews_app = typer.Typer(
    no_args_is_help=True, help="Identity reviews: children the router could not match surely."
)

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
    from services.router.linking import DECISION_COLUMNS, load_roll
    from services.router.linking import link as link_records
    from services.router.model import ModelFileError, read_model

    err = Console(stderr=True)
    try:
        model = read_model(model_file or RelaySettings().matching_model_file)
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

    async def run() -> list[importing.ImportSummary]:
        db = Database(RelaySettings().database_url_for("router"))
        try:
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
        finally:
            await db.dispose()

    try:
        summaries = asyncio.run(run())
    except FileRefusedError as exc:
        err.print(f"[red]{where}: refused, nothing changed: {exc}[/red]")
        raise typer.Exit(2) from exc
    except UnicodeDecodeError as exc:
        # Found part-way through: the one transaction rolled back.
        err.print(f"[red]{where}: refused, nothing changed: not UTF-8 text ({exc.reason})[/red]")
        raise typer.Exit(2) from exc
    except DBAPIError as exc:
        _database_error(err, exc)
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


def _database_error(err: Console, exc: DBAPIError) -> NoReturn:
    first = (str(exc.orig) or type(exc.orig).__name__).splitlines()[0][:300]
    err.print(f"[red]router database: {first}[/red]")
    if "no such table" in first or "does not exist" in first:
        err.print("the router's tables are missing: run `relay db upgrade router` first")
    raise typer.Exit(1) from exc


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


# -- relay reviews: the identity-review queue (DESIGN §6) -------------------------------


def _with_router_db(work: Callable[[Database], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        db = Database(RelaySettings().database_url_for("router"))
        try:
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except DBAPIError as exc:
        _database_error(Console(stderr=True), exc)


@reviews_app.command("list")
def reviews_list(
    state: Annotated[
        str | None, typer.Option(help="pending, matched or no-match; default: every review")
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            help="roll-record (which roll record is this child?) or same-child (the same "
            "child as one seen before?); default: both"
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="show at most this many")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List identity reviews, oldest first: roll-record reviews (which roll record an
    organisation's child is) and same-child reviews (the same child as an earlier one?),
    each with its kind.

    Review ids, candidate roll records or children, scores and which fields agreed:
    never the child's name or date of birth (those sit behind the console's login).
    """
    from services.router import review_store

    if state is not None and state not in review_store.STATES:
        raise typer.BadParameter(
            f"{state!r} is not a review state; one of {', '.join(review_store.STATES)}",
            param_hint="--state",
        )
    if kind is not None and kind not in review_store.KINDS:
        raise typer.BadParameter(
            f"{kind!r} is not a kind of review; one of {', '.join(review_store.KINDS)}",
            param_hint="--kind",
        )

    async def work(db: Database) -> list[dict[str, Any]]:
        held: list[dict[str, Any]] = []
        async with db.transaction() as session:
            if kind in (None, "roll-record"):
                held += [
                    r.summary()
                    for r in await review_store.listing(session, state, limit)  # type: ignore[arg-type]
                ]
            if kind in (None, "same-child"):
                held += [
                    r.summary()
                    for r in await review_store.same_child_listing(session, state, limit)  # type: ignore[arg-type]
                ]
        held.sort(key=lambda r: (r["created_at"], r["review_id"]))
        return held[:limit] if limit is not None else held

    rows: list[dict[str, Any]] = _with_router_db(work)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(f"no {state + ' ' if state else ''}{kind + ' ' if kind else ''}identity reviews")
        return
    # Plain lines, not a table: review, record and child ids must print whole, to be
    # copied into `relay reviews decide`.
    for r in rows:
        if r["kind"] == "same-child":
            _same_child_lines(r)
            continue
        decided = (
            f" {r['roll_record_id'] or ''} by {r['decided_by']} at {r['decided_at'][:19]}"
            if r["state"] != "pending"
            else ""
        )
        typer.echo(
            f"{r['review_id']}  roll-record  {r['state']}{decided}  created "
            f"{r['created_at'][:19]}  org {r['org_code']}  episode "
            f"{r['force_code']}:{r['episode_ref']} ({r['event_type']})"
        )
        for c in r["candidates"]:
            # Fields with nothing to compare add noise: show what agreed or not.
            why = " ".join(
                f"{k}={v}" for k, v in c["explanation"].items() if not str(v).startswith("missing")
            )
            typer.echo(f"    {c['roll_record_id']}  score {c['score']:.2f}  {why}")
    typer.echo(f"{len(rows)} review(s)")


def _same_child_lines(r: dict[str, Any]) -> None:
    decided = (
        f" {r['decided_child_id'] or ''} by {r['decided_by']} at {r['decided_at'][:19]}"
        if r["state"] != "pending"
        else ""
    )
    typer.echo(
        f"{r['review_id']}  same-child  {r['state']}{decided}  created {r['created_at'][:19]}  "
        f"episode {r['force_code']}:{r['episode_ref']}  child {r['child_id']}"
    )
    for c in r["candidates"]:
        typer.echo(f"    the same child as {c['child_id']}?  {c['episodes']} episode(s)")


@reviews_app.command("decide")
def reviews_decide(
    review_id: Annotated[str, typer.Argument(help="the review id (relay reviews list)")],
    record: Annotated[
        str | None,
        typer.Option("--record", help="the candidate roll record id that is this child"),
    ] = None,
    child: Annotated[
        str | None,
        typer.Option("--child", help="a same-child review: the earlier child (id) this child is"),
    ] = None,
    none: Annotated[
        bool, typer.Option("--none", help="none of the candidates is this child")
    ] = False,
    by: Annotated[str | None, typer.Option("--by", help="who decides; default: your login")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Decide a pending identity review.

    Publishes the decision to identity-decisions; the router then routes the held event
    to the organisation (--record) or tells nobody (--none); for a same-child review
    (issue 20) --child merges the episode's child into the earlier child chosen.
    """
    import getpass

    from schemas.base import derived_id
    from schemas.catalogue import IDENTITY_DECISIONS
    from schemas.messages import IdentityDecisionV1
    from services.router import person_moves, review_store
    from services.runtime.database import utcnow
    from services.runtime.kafka import create_broker, ensure_topics

    if [record is not None, child is not None, none].count(True) != 1:
        raise typer.BadParameter(
            "give exactly one of --record ROLL_RECORD_ID, --child CHILD_ID or --none"
        )
    if record is not None and not record.strip():
        raise typer.BadParameter("an empty roll record id", param_hint="--record")
    decision: str = "no-match" if none else "match"
    decided_by = (by or "").strip() or getpass.getuser()
    settings = RelaySettings()
    err = Console(stderr=True, soft_wrap=True)  # whole lines: ids must stay copyable

    async def check(db: Database) -> tuple[str, str | None]:
        async with db.transaction() as session:
            if await person_moves.is_child_review(session, review_id):
                refused = await person_moves.child_review_refusal(
                    session, review_id, decision, child
                )
                return ("--child" if child else "REVIEW_ID"), refused
            if child is not None:
                return "--child", f"review {review_id} asks for a roll record: use --record"
            held = await review_store.get(session, review_id)
        # A pending review refuses only the record; otherwise the review id is wrong.
        option = "--record" if held is not None and held.state == "pending" else "REVIEW_ID"
        return option, review_store.refusal(held, review_id, decision, record)

    option, refused = _with_router_db(check)
    if refused is not None:
        err.print(f"[red]{option}: {refused}[/red]", highlight=False)
        raise typer.Exit(2)

    # The id derives from the review: deciding twice before the router has applied the
    # first publishes the same message again, which the router skips.
    message = IdentityDecisionV1(
        message_id=derived_id(review_id, "decision"),
        review_id=review_id,
        decision=decision,  # type: ignore[arg-type]
        roll_record_id=record,
        child_id=child,
        decided_by=decided_by,
        decided_at=utcnow(),
    )

    async def publish() -> None:
        await ensure_topics(settings, timeout_s=15)
        broker = create_broker(settings, client_id="relay-reviews")
        await broker.start()
        try:
            await broker.publish(
                message.model_dump_json().encode(),
                topic=settings.topic(IDENTITY_DECISIONS.wire),
                key=review_id.encode(),
                headers={"message_id": message.message_id, "content-type": "application/json"},
            )
        finally:
            await broker.stop()

    try:
        asyncio.run(publish())
    except Exception as exc:  # the broker did not take it: nothing was decided
        err.print(
            f"[red]Kafka at {settings.bootstrap}: decision not published "
            f"({type(exc).__name__}: {exc}); nothing changed, try again[/red]"
        )
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(message.model_dump(mode="json"), indent=2))
        return
    what = (
        f"match to roll record {record}"
        if record
        else f"the same child as {child}"
        if child
        else "no match"
    )
    Console().print(
        f"review {review_id}: {what} published by {decided_by}; the router applies it "
        f"when it reads {settings.topic(IDENTITY_DECISIONS.wire)}"
    )

"""``relay returns figures`` and ``relay returns ssda903-missing`` (issue 21): what a
local authority is asked for every year, from the relay's own records.

Where the data comes from, and why. The figures are the console's: its read model is
the one place episodes, RHI tasks and their records meet (it consumes every stream,
DESIGN §1), so the command reads the console's database as ``relay users`` does
(``RELAY_CONSOLE_DATABASE_URL``), and the page ``/returns`` shows the same numbers. The
SSDA903 table needs one thing more, the authority's own roll (record ids and dates of
birth), which is the router's: the command reads it from the router's database
(``RELAY_ROUTER_DATABASE_URL``), as ``relay policy check`` reads the directory there. An
operator's command may read what two services own; the services themselves still never
read each other's tables. Neither command writes anything but its file and, for the
SSDA903 table (it names children by their record ids), an entry in the console's audit.
"""

from __future__ import annotations

import csv
import getpass
import io
import json
import os
import tempfile
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from schemas.identifiers import validate_gss_code
from schemas.messages import OrgKind
from services.console import audit as console_audit
from services.console import returns_queries
from services.console.returns import ReturnsFigures, as_json, csv_header, csv_rows
from services.console.ssda903 import MissingTable, missing_table
from services.router import repository as router_repository
from services.runtime.database import Database, utcnow
from services.runtime.one_off import run_with_database
from services.runtime.settings import RelaySettings, ServiceName

T = TypeVar("T")


class ReturnsError(Exception):
    """The command cannot answer: the message says why and what to do; no file written."""


La = Annotated[str, typer.Option("--la", help="the local authority's GSS code, e.g. E06000057")]
From = Annotated[str, typer.Option("--from", help="the first day, YYYY-MM-DD")]
To = Annotated[str, typer.Option("--to", help="the last day, YYYY-MM-DD (included)")]


def authority(value: str) -> str:
    try:
        return validate_gss_code(value.strip().upper())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--la") from None


def period(since: str, until: str) -> tuple[date, date]:
    days = []
    for value, option in ((since, "--from"), (until, "--to")):
        try:
            days.append(date.fromisoformat(value.strip()))
        except ValueError:
            raise typer.BadParameter(
                f"{value!r}: a date as YYYY-MM-DD", param_hint=option
            ) from None
    if days[0] > days[1]:
        raise typer.BadParameter("after --to", param_hint="--from")
    return days[0], days[1]


def _database(settings: RelaySettings, service: ServiceName) -> str:
    """The service's database URL; an SQLite file that is not there is an error (opening
    it would make an empty one)."""
    url = settings.database_url_for(service)
    where = make_url(url)
    if where.get_backend_name() == "sqlite" and not (
        where.database and Path(where.database).is_file()
    ):
        raise ReturnsError(
            f"no {service} database at {where.database}: start the relay (relay up) or set "
            f"RELAY_{service.upper()}_DATABASE_URL"
        )
    return url


def _read(url: str, service: str, work: Callable[[Database], Awaitable[T]]) -> T:
    try:
        return run_with_database(url, work)
    except DBAPIError as exc:
        first = (str(exc.orig or exc) or type(exc).__name__).splitlines()[0][:200]
        raise ReturnsError(
            f"the {service} database cannot be read ({first}): is it at the latest "
            f"revision? relay db upgrade {service}"
        ) from None


def _fail(exc: ReturnsError) -> typer.Exit:
    typer.echo(f"relay returns: {exc}", err=True)
    return typer.Exit(1)


def register(app: typer.Typer) -> None:
    returns_app = typer.Typer(
        no_args_is_help=True,
        help="A local authority's missing-children figures and its SSDA903 Missing table.",
    )
    app.add_typer(returns_app, name="returns")

    returns_app.command("figures")(figures_command)
    returns_app.command("ssda903-missing")(ssda903_missing)


def figures_command(
    la: La,
    since: From,
    until: To,
    as_json_: Annotated[bool, typer.Option("--json", help="one JSON document")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV: a row a month, then total")] = False,
) -> None:
    """Episodes, distinct children, episodes per child, return home interviews due /
    offered / offered within 72 h / completed / completed within 72 h / declined /
    not possible, the same for looked-after children and those placed outside the
    authority: by month and for the whole period."""
    if as_json_ and as_csv:
        raise typer.BadParameter("one of --json and --csv", param_hint="--csv")
    code, (start, end) = authority(la), period(since, until)
    settings = RelaySettings()

    async def work(db: Database) -> tuple[bool, ReturnsFigures]:
        async with db.transaction() as session:
            known = await returns_queries.known_authority(session, code)
            return known, await returns_queries.returns_figures(session, code, start, end)

    try:
        known, result = _read(_database(settings, "console"), "console", work)
    except ReturnsError as exc:
        raise _fail(exc) from None
    if not known:
        typer.echo(
            f"relay returns: the console has no episode, alert or task of {code}: every "
            "figure is 0",
            err=True,
        )
    if as_json_:
        typer.echo(json.dumps(as_json(result), indent=2))
    elif as_csv:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(csv_header())
        writer.writerows(csv_rows(result))
        typer.echo(out.getvalue(), nl=False)
    else:
        _print(result)


def ssda903_missing(
    la: La,
    since: From,
    until: To,
    out: Annotated[Path, typer.Option("--out", help="the CSV file to write")],
) -> None:
    """Write the DfE SSDA903 "Missing" table of the authority's looked-after
    children (CHILD, DOB, MISSING, MIS_START, MIS_END). CHILD is the child's record
    in the authority's own roll; episodes of children with none are listed on
    standard error and not written."""
    code, (start, end) = authority(la), period(since, until)
    if not out.parent.is_dir():
        raise typer.BadParameter(f"no folder {out.parent}", param_hint="--out")
    settings = RelaySettings()
    try:
        roll = _authority_roll(settings, code)
        table = _missing_table(settings, code, start, end, roll)
    except ReturnsError as exc:
        raise _fail(exc) from None
    _write_atomically(out, table)
    _report(table, code, out)


def _authority_roll(settings: RelaySettings, code: str) -> dict[str, date | None]:
    async def work(db: Database) -> tuple[OrgKind | None, dict[str, date]]:
        async with db.transaction() as session:
            org = await router_repository.organisation(session, code)
            if org is None:
                return None, {}
            return org.kind, await router_repository.roll_dates_of_birth(session, code)

    kind, roll = _read(_database(settings, "router"), "router", work)
    if kind is None:
        raise ReturnsError(
            f"{code} is not in the directory: an unknown authority (relay directory import "
            "organisations); no file written"
        )
    if kind is not OrgKind.LOCAL_AUTHORITY:
        raise ReturnsError(f"{code} is a {kind.value}, not a local authority; no file written")
    if not roll:
        raise ReturnsError(
            f"{code} has no roll: import its looked-after children as its roll (relay "
            "directory import roll), so that each child has its record id; no file written"
        )
    return dict(roll)


def _missing_table(
    settings: RelaySettings, code: str, start: date, end: date, roll: dict[str, date | None]
) -> MissingTable:
    async def work(db: Database) -> MissingTable:
        async with db.transaction() as session:
            episodes = await returns_queries.missing_episodes(session, code, end)
            table = missing_table(episodes, start, end, roll)
            # The table names children by the authority's record ids: an export, audited.
            await console_audit.record_as(
                session,
                f"cli:{getpass.getuser()}",
                "operator",
                "ssda903-export",
                f"{code} {start}..{end}",
                utcnow(),
                f"{len(table.rows)} row(s)",
            )
        return table

    return _read(_database(settings, "console"), "console", work)


def _write_atomically(out: Path, table: MissingTable) -> None:
    """The whole file or none: written beside, then renamed over ``out``."""
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            table.write(stream)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _report(table: MissingTable, code: str, out: Path) -> None:
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if table.no_record:
        err.print(
            f"{len(table.no_record)} episode(s) of children with no record in {code}'s roll, "
            "not written (add the child to the roll, or decide the identity review):"
        )
        for episode in table.no_record:
            err.print(f"  {episode.describe()}")
    if table.several_records:
        err.print(
            f"{len(table.several_records)} episode(s) matched to more than one record in "
            f"{code}'s roll, not written:"
        )
        for episode in table.several_records:
            err.print(f"  {episode.describe()}: records {', '.join(sorted(episode.roll_records))}")
    for line in table.refused:
        err.print(line)
    for line in table.warnings:
        err.print(f"check: {line}")
    Console(highlight=False).print(
        f"wrote {len(table.rows)} row(s) to {out}"
        + (
            f"; {len(table.no_record) + len(table.several_records) + len(table.refused)} "
            "episode(s) left out (listed on standard error)"
            if table.no_record or table.several_records or table.refused
            else ""
        )
    )


_COLUMNS = (
    "episodes",
    "children",
    "LAC eps",
    "LAC",
    "placed out",
    "RHI due",
    "offered",
    "≤72h",
    "done",
    "≤72h",
    "declined",
    "not poss.",
)


def _print(result: ReturnsFigures) -> None:
    """A table a month a row (LAC: looked-after children; "≤72h": within 72 hours of
    the return); ``--json`` and ``--csv`` give every figure."""
    table = Table(title=f"{result.la}, {result.since:%d/%m/%Y} to {result.until:%d/%m/%Y}")
    table.add_column("month", no_wrap=True, min_width=7)
    for name in _COLUMNS:
        table.add_column(name, justify="right")
    for p in [*result.months, result.total]:
        r = p.rhi
        values = (
            p.episodes,
            p.children,
            p.looked_after_episodes,
            p.looked_after_children,
            p.placed_out_children,
            r.due,
            r.offered,
            r.offered_within_72h,
            r.completed,
            r.completed_within_72h,
            r.declined,
            r.not_possible,
        )
        table.add_row(p.month or "total", *(f"{v:,}" for v in values))
    Console().print(table)
    spread = ", ".join(f"{k}: {v}" for k, v in result.total.episodes_per_child.items())
    Console().print(f"children by episodes in the period: {spread}")

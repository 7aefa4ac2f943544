"""``relay audit verify`` (walk the tamper-evident audit chains) and ``relay audit export
--child`` (a subject access request: who was told what about a child, and who looked at
their record), over the notifier's and the console's databases; ``relay retention run``."""

from __future__ import annotations

import getpass
import json
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy import Table, select
from sqlalchemy.exc import DBAPIError

from relay.subject_access import Subject, SubjectError, by_name, disclosure_rows, parse_child, widen
from services.console import audit as console_audit
from services.console import retention as console_retention
from services.console import tables as console_tables
from services.ingest import repository as ingest_repository
from services.notifier import repository as notifier_repository
from services.notifier import tables as notifier_tables
from services.router import retention as router_retention
from services.runtime import audit_chain
from services.runtime.database import Database, utcnow
from services.runtime.one_off import run_with_database
from services.runtime.policy_file import PolicyFileError
from services.runtime.retention import RetentionPolicy, Sweep, load_retention, sweep_once
from services.runtime.settings import RelaySettings, ServiceName

T = TypeVar("T")

# Service -> (its chain heads, its chained table).
CHAINS: dict[ServiceName, tuple[Table, Table]] = {
    "notifier": (notifier_tables.audit_chains, notifier_tables.disclosures),
    "console": (console_tables.audit_chains, console_tables.audit),
}
SWEEPS: dict[ServiceName, Sweep] = {
    "ingest": ingest_repository.remove_expired,
    "router": router_retention.remove_expired,
    "notifier": notifier_repository.remove_expired,
    "console": console_retention.remove_expired,
}


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _with_db(
    settings: RelaySettings, service: ServiceName, work: Callable[[Database], Awaitable[T]]
) -> T:
    try:
        return run_with_database(settings.database_url_for(service), work)
    except DBAPIError as exc:
        first = (str(getattr(exc, "orig", exc)).splitlines() or [""])[0]
        raise _fail(
            f"{service} database: {first} (has `relay db upgrade {service}` run?)"
        ) from None


def _verify(settings: RelaySettings, service: ServiceName) -> audit_chain.ChainReport:
    heads, table = CHAINS[service]

    async def work(db: Database) -> audit_chain.ChainReport:
        async with db.transaction() as session:
            return await audit_chain.verify(session, heads, table)

    return _with_db(settings, service, work)


def _resolve(
    settings: RelaySettings,
    child: str | None,
    given: str | None,
    family: str | None,
    born: str | None,
) -> Subject:
    """The child's ids (and keys of before) from the notifier's links and alerts."""
    if child:
        if given or family or born:
            raise _fail("give --child, or the name and date of birth, not both")
        try:
            subject = parse_child(child)
        except SubjectError as exc:
            raise _fail(str(exc)) from None
    elif not (given and family and born):
        raise _fail("give --child ID, or --given-name, --family-name and --date-of-birth")
    else:
        try:
            day = date.fromisoformat(born)
        except ValueError:
            raise _fail(f"--date-of-birth {born!r}: not a date (YYYY-MM-DD)") from None

    async def work(db: Database) -> Subject:
        async with db.transaction() as session:
            found = subject if child else await by_name(session, given or "", family or "", day)
            return await widen(session, found)

    return _with_db(settings, "notifier", work)


def _disclosures(settings: RelaySettings, subject: Subject) -> list[dict[str, Any]]:
    async def work(db: Database) -> list[dict[str, Any]]:
        async with db.transaction() as session:
            rows: list[Any] = await disclosure_rows(session, subject)
        return [
            {
                "at": row.at.isoformat(),
                "recipient": {
                    "name": row.recipient_name,
                    "kind": row.recipient_kind,
                    "code": row.recipient_code,
                    "email": row.recipient_email,
                },
                "fields_disclosed": row.fields.split(",") if row.fields else [],
                "policy_rule": row.policy_rule,
                "reason": row.reason,
                "alert_kind": row.kind,
                "event_type": row.event_type,
                "police_reference": f"{row.force_code}/{row.episode_ref}",
                "alert_id": row.alert_id,
            }
            for row in rows
        ]

    return _with_db(settings, "notifier", work)


def _views(settings: RelaySettings, subject: Subject) -> list[dict[str, Any]]:
    table = console_tables.audit
    operator = f"cli:{getpass.getuser()}"

    async def work(db: Database) -> list[dict[str, Any]]:
        async with db.transaction() as session:
            rows = (
                await session.execute(
                    select(table)
                    .where(table.c.subject.in_(sorted(subject.names)))
                    .order_by(table.c.seq)
                )
            ).all()
            # The export is itself a disclosure of the record: it is audited too.
            await console_audit.record_as(
                session, operator, "operator", "subject-access-export", subject.primary, utcnow()
            )
        return [
            {
                "at": row.at.isoformat(),
                "who": row.username,
                "role": row.role,
                "action": row.action,
                "detail": row.detail,
            }
            for row in rows
        ]

    return _with_db(settings, "console", work)


def register(app: typer.Typer) -> None:
    audit_app = typer.Typer(
        no_args_is_help=True, help="The audit of disclosures and of views of records."
    )
    app.add_typer(audit_app, name="audit")
    retention_app = typer.Typer(no_args_is_help=True, help="Removing data past its time.")
    app.add_typer(retention_app, name="retention")

    audit_app.command("verify")(verify)
    audit_app.command("export")(export)
    retention_app.command("run")(run)


def verify(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Check every entry of the notifier's disclosures and the console's audit against
    the hash chain. Exits 1 if anything was changed, inserted or removed. Keep the
    head hashes printed here somewhere the database's administrators cannot write:
    a chain rebuilt after tampering would not end in them."""
    reports = [_verify(RelaySettings(), service) for service in CHAINS]
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in reports], indent=2))
    else:
        for r in reports:
            state = "intact" if r.intact else "BROKEN"
            typer.echo(
                f"{r.chain}: {state}, {r.entries} entries "
                f"({r.first_seq}..{r.last_seq}), head {r.last_hash}"
            )
            for problem in r.problems:
                typer.echo(f"  {problem}")
    if not all(r.intact for r in reports):
        raise typer.Exit(1)


def export(
    child: Annotated[
        str | None,
        typer.Option(
            help="the child's id (the console's /children/<id> page; a key of before "
            "the person index also works)"
        ),
    ] = None,
    given_name: Annotated[str | None, typer.Option(help="or: the child's given name")] = None,
    family_name: Annotated[str | None, typer.Option(help="… family name")] = None,
    date_of_birth: Annotated[
        str | None, typer.Option(help="… and date of birth, YYYY-MM-DD")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="write the JSON here (default: standard output)")
    ] = None,
) -> None:
    """A subject access request: every alert about the child (to whom, when, which
    fields, under which policy rule) and every view or export of their record in
    the console, with whether the audit chains verify. The export is audited."""
    settings = RelaySettings()
    subject = _resolve(settings, child, given_name, family_name, date_of_birth)
    chains = [_verify(settings, service).as_dict() for service in CHAINS]
    answer = {
        "child_id": subject.primary,
        "child_ids": sorted(subject.child_ids),
        "earlier_keys": sorted(subject.legacy_keys),
        "generated_at": utcnow().isoformat(),
        "disclosures": _disclosures(settings, subject),
        "record_views": _views(settings, subject),
        "audit_chains": chains,
    }
    text = json.dumps(answer, indent=2, ensure_ascii=False)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")
        out.chmod(0o600)
        typer.echo(
            f"wrote {out}: {len(answer['disclosures'])} disclosure(s), "
            f"{len(answer['record_views'])} view(s) of the record",
            err=True,
        )


def run(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Remove what the policy file's retention table no longer allows to be kept, in each
    service's database now (the services also do this every
    RELAY_RETENTION_INTERVAL_S)."""
    settings = RelaySettings()
    try:
        policy = load_retention(settings)
    except PolicyFileError as exc:
        raise _fail(str(exc)) from None
    removed = {service: _sweep(settings, service, policy) for service in SWEEPS}
    if as_json:
        typer.echo(json.dumps({"days": policy.days, "removed": removed}))
        return
    typer.echo(
        "kept for: " + ", ".join(f"{kind} {days} days" for kind, days in policy.days.items())
    )
    for service, counts in removed.items():
        typer.echo(f"{service}: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))


def _sweep(
    settings: RelaySettings, service: ServiceName, policy: RetentionPolicy
) -> dict[str, int]:
    return _with_db(settings, service, lambda db: sweep_once(db, SWEEPS[service], policy, utcnow()))

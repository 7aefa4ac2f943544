"""``relay keys``, ``relay rejects``, ``relay ingest FILE``, ``relay replay``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import DBAPIError

from services.ingest import repository
from services.ingest.keys import ForceCodeError, check_force_code, generate_key, hash_key
from services.runtime.database import Database, utcnow
from services.runtime.one_off import run_with_database
from services.runtime.settings import RelaySettings

T = TypeVar("T")
err = Console(stderr=True)

keys_app = typer.Typer(no_args_is_help=True, help="API keys of police systems (ingest).")
rejects_app = typer.Typer(no_args_is_help=True, help="Input ingest refused.")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.add_typer(rejects_app, name="rejects")
    app.command("ingest")(ingest)
    app.command("replay")(replay_command)


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(1)


def with_db(work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` against ingest's database, with a clear error when it is not there."""

    try:
        return run_with_database(RelaySettings().database_url_for("ingest"), work)
    except (DBAPIError, OSError) as exc:
        first = (str(getattr(exc, "orig", exc)).splitlines() or [""])[0]
        raise _fail(
            f"ingest database: {first} (is RELAY_DATABASE_URL right, and has "
            "`relay db upgrade ingest` run?)"
        ) from None


@keys_app.command("create")
def keys_create(
    force_code: Annotated[str, typer.Option("--force-code", help="2-digit police force code")],
    name: Annotated[str, typer.Option(help="who uses the key, e.g. 'Northumbria PNC bridge'")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Create an API key. It is printed once (the last line of output) and never again."""
    try:
        check_force_code(force_code)
    except ForceCodeError as exc:
        raise _fail(str(exc)) from None
    if not name.strip():
        raise _fail("--name: give the key a name saying who uses it")
    key = generate_key(force_code)

    async def work(db: Database) -> repository.ApiKey:
        async with db.transaction() as session:
            return await repository.add_key(session, name.strip(), force_code, hash_key(key))

    record = with_db(work)
    if as_json:
        typer.echo(
            json.dumps(
                {"id": record.id, "key": key, "force_code": record.force_code, "name": record.name}
            )
        )
        return
    err.print(
        f"Created key {record.id} for force {force_code} ({record.name}). Store it "
        "now: it cannot be shown again.",
        highlight=False,
    )
    typer.echo(key)


@keys_app.command("list")
def keys_list(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """List API keys (never the keys themselves)."""

    async def work(db: Database) -> list[repository.ApiKey]:
        async with db.transaction() as session:
            return await repository.list_keys(session)

    keys = with_db(work)
    now = utcnow()
    rows = [
        {
            "id": k.id,
            "name": k.name,
            "force_code": k.force_code,
            "created_at": k.created_at.isoformat(),
            "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
            "state": _key_state(k, now),
        }
        for k in keys
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    _table(rows, ["id", "name", "force_code", "created_at", "state"])


def _key_state(key: repository.ApiKey, now: datetime) -> str:
    if key.revoked_at is None:
        return "active"
    if key.revoked_at > now:
        return f"rotated: works until {key.revoked_at:%Y-%m-%d %H:%M} UTC"
    return f"revoked {key.revoked_at:%Y-%m-%d %H:%M} UTC"


@keys_app.command("rotate")
def keys_rotate(
    key_id: Annotated[str, typer.Argument(help="the key's id (see keys list)")],
    grace_hours: Annotated[
        float,
        typer.Option(
            min=0,
            max=24 * 30,
            help="the old key keeps working this long, while the police system changes "
            "over to the new one; 0 revokes it now",
        ),
    ] = 24,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """A new key for the same force and user; printed once (the last line of output)."""

    async def work(db: Database) -> tuple[repository.ApiKey, repository.ApiKey, str] | None:
        async with db.transaction() as session:
            keys = {k.id: k for k in await repository.list_keys(session)}
            if key_id not in keys:
                return None
            key = generate_key(keys[key_id].force_code)
            rotated = await repository.rotate_key(
                session, key_id, hash_key(key), timedelta(hours=grace_hours)
            )
            return None if rotated is None else (*rotated, key)

    done = with_db(work)
    if done is None:
        raise _fail(f"no active key with id {key_id} (see relay keys list)")
    old, new, key = done
    ends = old.revoked_at.isoformat() if old.revoked_at else None
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "id": new.id,
                    "key": key,
                    "force_code": new.force_code,
                    "name": new.name,
                    "replaces": old.id,
                    "old_key_works_until": ends,
                }
            )
        )
        return
    err.print(
        f"Created key {new.id} for force {new.force_code} ({new.name}), replacing {old.id}, "
        f"which works until {ends}. Store the new key now: it cannot be shown again.",
        highlight=False,
    )
    typer.echo(key)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="the key's id (see keys list)")],
) -> None:
    """Revoke a key: requests with it get 401 from now on."""

    async def work(db: Database) -> bool:
        async with db.transaction() as session:
            return await repository.revoke_key(session, key_id)

    if not with_db(work):
        raise _fail(f"no active key with id {key_id}")
    typer.echo(f"revoked {key_id}")


def rejects_rows(rejects: list[repository.Reject]) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "received_at": r.received_at.isoformat(),
            "channel": r.channel,
            "source": r.source,
            "force_code": r.force_code,
            "event_id": r.event_id,
            "errors": r.errors,
        }
        for r in rejects
    ]


@rejects_app.command("list")
def rejects_list(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    limit: Annotated[int, typer.Option(min=1, help="most recent N")] = 50,
) -> None:
    """Recent rejects with their reasons (never the payload: it holds a child's details)."""

    async def work(db: Database) -> list[repository.Reject]:
        async with db.transaction() as session:
            return await repository.list_rejects(session, limit)

    rows = rejects_rows(with_db(work))
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for row in rows:
        row["errors"] = "; ".join(f"{e['field']}: {e['message']}" for e in row["errors"])
    _table(rows, ["id", "received_at", "channel", "source", "force_code", "event_id", "errors"])


def ingest(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="CSV, or NDJSON (.ndjson/.jsonl)"
        ),
    ],
    url: Annotated[str, typer.Option(help="the ingest API")] = "http://127.0.0.1:8000",
    key: Annotated[
        str | None, typer.Option(envvar="RELAY_API_KEY", show_envvar=True, help="API key")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable summary")] = False,
) -> None:
    """Send a police feed file; its rejects go to <FILE>.rejects.csv."""
    import httpx

    from services.ingest.upload import UploadError, count_lines, upload

    if not key:
        raise _fail("no API key: give --key or set RELAY_API_KEY")
    total = count_lines(file)

    async def run() -> Any:
        async with httpx.AsyncClient(base_url=url) as client:
            with _progress(as_json) as bar:
                task = bar.add_task(f"sending {file.name}", total=total)
                return await upload(
                    file, client, key, lambda line: bar.update(task, completed=line)
                )

    try:
        summary = asyncio.run(run())
    except UploadError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(summary.as_json()))
    else:
        typer.echo(
            f"accepted {summary.accepted}, duplicate {summary.duplicate}, "
            f"rejected {summary.rejected}"
            + (
                f", unavailable {summary.unavailable} (send the file again)"
                if summary.unavailable
                else ""
            )
            + f"; rejects in {summary.rejects_file}"
        )
    if summary.unavailable:
        raise typer.Exit(2)


def parse_since(text: str) -> datetime:
    """RFC 3339 (``2026-03-01T08:00:00Z``) or a date (midnight UTC); no offset means UTC."""
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip())
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: expected RFC 3339 (2026-03-01T08:00:00Z) or a date (2026-03-01)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def replay_command(
    since: Annotated[str | None, typer.Option(help="RFC 3339 time or date; default: all")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Republish accepted events (accepted at or after --since) to episode-events."""
    from services.ingest.publishing import BrokerUnavailableError
    from services.ingest.replay import replay
    from services.runtime.kafka import create_broker, ensure_topics

    settings = RelaySettings()
    moment = parse_since(since) if since else None

    async def work(db: Database) -> int:
        async with db.transaction() as session:
            total = await repository.count_events(session, moment)
        await ensure_topics(settings, timeout_s=15)
        broker = create_broker(settings, client_id="relay-ingest-replay")
        await broker.start()
        try:
            with _progress(as_json) as bar:
                task = bar.add_task("replaying", total=total)
                return await replay(db, broker, settings, moment, lambda n: bar.advance(task, n))
        finally:
            await broker.stop()

    try:
        count = with_db(work)
    except (BrokerUnavailableError, RuntimeError) as exc:
        raise _fail(f"Kafka at {settings.bootstrap}: {exc}") from None
    if as_json:
        typer.echo(json.dumps({"replayed": count}))
    else:
        typer.echo(f"replayed {count} events to {settings.topic('episode-events.v1')}")


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=quiet,
        transient=True,
    )


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    Console().print(table)

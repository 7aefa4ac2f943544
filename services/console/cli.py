"""``relay console …``: the console's read model from the command line."""

from __future__ import annotations

import json
import sys
from functools import partial
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from services.console import repository, sessions
from services.console.accounts import (
    ROLE_HELP,
    Role,
    authority_problem,
    hash_password,
    password_problem,
    username_problem,
)
from services.console.sessions import UserExistsError
from services.runtime.database import Database, utcnow
from services.runtime.migrations import upgrade
from services.runtime.one_off import run_with_database
from services.runtime.settings import RelaySettings


def register(app: typer.Typer) -> None:
    console_app = typer.Typer(no_args_is_help=True, help="The console's read model.")
    app.add_typer(console_app, name="console")
    users_app = typer.Typer(no_args_is_help=True, help="Console accounts.")
    app.add_typer(users_app, name="users")
    users_app.command("create")(create_user)
    users_app.command("list")(list_users)
    users_app.command("disable")(disable)
    console_app.command("dead-letters")(dead_letters)


def create_user(
    username: Annotated[str, typer.Option(help="lower-case; what the user signs in with")],
    role: Annotated[
        str,
        typer.Option(help="; ".join(f"{r.value}: {ROLE_HELP[r]}" for r in Role)),
    ],
    la: Annotated[
        str | None,
        typer.Option("--la", help="an rhi-worker's local authority (GSS code)"),
    ] = None,
) -> None:
    """Create a console account. The password is read from standard input (asked
    for twice at a terminal); it is stored only as an Argon2id hash."""
    name = username.strip().lower()
    problem = username_problem(name)
    if problem:
        raise typer.BadParameter(problem, param_hint="--username")
    try:
        chosen = Role(role)
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise typer.BadParameter(f"{role!r}: one of {roles}", param_hint="--role") from None
    la_code = la.strip().upper() if la else None
    problem = authority_problem(chosen, la_code)
    if problem:
        raise typer.BadParameter(problem, param_hint="--la")
    password = _read_password()
    problem = password_problem(password)
    if problem:
        raise typer.BadParameter(f"the password needs {problem}", param_hint="password")
    try:
        run_with_database(
            _console_url(),
            partial(
                _create_user,
                name=name,
                password_hash=hash_password(password),
                role=chosen,
                la_code=la_code,
            ),
        )
    except UserExistsError as exc:
        raise typer.BadParameter(str(exc), param_hint="--username") from None
    where = f" of {la_code}" if la_code else ""
    Console().print(f"created {name}: {chosen.value}{where}")


def list_users(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """The console's accounts (never their passwords)."""
    rows = run_with_database(_console_url(), _users)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "username": u.username,
                        "role": u.role.value,
                        "la_code": u.la_code,
                        "created_at": created.isoformat(),
                        "disabled_at": disabled.isoformat() if disabled else None,
                    }
                    for u, created, disabled in rows
                ],
                indent=2,
            )
        )
        return
    table = Table("username", "role", "local authority", "created", "disabled")
    for u, created, disabled in rows:
        table.add_row(
            u.username,
            u.role.value,
            u.la_code or "",
            f"{created:%Y-%m-%d}",
            f"{disabled or ''}",
        )
    Console().print(table if rows else "No users yet: relay users create --help")


def disable(username: Annotated[str, typer.Argument(help="the account to disable")]) -> None:
    """Disable an account and end its sessions at once."""
    if not run_with_database(_console_url(), partial(_disable, name=username.strip().lower())):
        raise typer.BadParameter(f"no user named {username}", param_hint="USERNAME")
    Console().print(f"disabled {username}; their sessions are ended")


def dead_letters(
    limit: Annotated[int, typer.Option(min=1, help="newest first, at most this many")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """List the dead letters the console has seen (topic, consumer, error, time)."""
    url = RelaySettings().database_url_for("console")
    rows = run_with_database(url, partial(_dead_letters, limit=limit))
    if as_json:
        typer.echo(json.dumps(rows, default=str, indent=2))
        return
    table = Table("failed at", "topic", "consumer", "partition/offset", "error")
    for r in rows:
        where = (
            f"{r['kafka_partition']}/{r['kafka_offset']}"
            if r["kafka_partition"] is not None
            else ""
        )
        table.add_row(str(r["failed_at"]), r["topic"], r["consumer"], where, r["error"])
    Console().print(table if rows else "No dead letters.")


def _read_password() -> str:
    if sys.stdin.isatty():
        return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    return sys.stdin.readline().rstrip("\r\n")


def _console_url() -> str:
    """The console's database, its tables created on a fresh machine."""
    settings = RelaySettings()
    url = settings.database_url_for("console")
    if url.startswith("sqlite"):
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade("console", url)
    return url


async def _create_user(
    db: Database, name: str, password_hash: str, role: Role, la_code: str | None
) -> None:
    async with db.transaction() as session:
        await sessions.create_user(session, name, password_hash, role, la_code, utcnow())


async def _users(db: Database) -> list[Any]:
    async with db.transaction() as session:
        return await sessions.all_users(session)


async def _disable(db: Database, name: str) -> bool:
    async with db.transaction() as session:
        return await sessions.disable_user(session, name, utcnow())


async def _dead_letters(db: Database, limit: int) -> list[dict[str, Any]]:
    async with db.transaction() as session:
        return [dict(r) for r in await repository.dead_letter_page(session, limit, 0)]

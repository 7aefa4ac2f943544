"""The router CLI's one-off database: opened for one command, disposed after, and a
database error told as one line (with the likely fix) instead of a traceback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import typer
from rich.console import Console
from sqlalchemy.exc import DBAPIError

from services.runtime.database import Database
from services.runtime.one_off import run_with_database
from services.runtime.settings import RelaySettings


def router_url() -> str:
    return RelaySettings().database_url_for("router")


def database_error(err: Console, exc: DBAPIError) -> NoReturn:
    first = (str(exc.orig) or type(exc.orig).__name__).splitlines()[0][:300]
    err.print(f"[red]router database: {first}[/red]")
    if "no such table" in first or "does not exist" in first:
        err.print("the router's tables are missing: run `relay db upgrade router` first")
    raise typer.Exit(1) from exc


def with_router_db(work: Callable[[Database], Awaitable[Any]]) -> Any:
    try:
        return run_with_database(router_url(), work)
    except DBAPIError as exc:
        database_error(Console(stderr=True), exc)

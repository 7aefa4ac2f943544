"""``relay console …``: the console's read model from the command line."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from services.console import repository
from services.runtime.database import Database
from services.runtime.settings import RelaySettings


def register(app: typer.Typer) -> None:
    console_app = typer.Typer(no_args_is_help=True, help="The console's read model.")
    app.add_typer(console_app, name="console")

    @console_app.command("dead-letters")
    def dead_letters(
        limit: Annotated[int, typer.Option(min=1, help="newest first, at most this many")] = 50,
        as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    ) -> None:
        """List the dead letters the console has seen (topic, consumer, error, time)."""
        rows = asyncio.run(_dead_letters(limit))
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


async def _dead_letters(limit: int) -> list[dict[str, Any]]:
    db = Database(RelaySettings().database_url_for("console"))
    try:
        async with db.transaction() as session:
            return [dict(r) for r in await repository.dead_letter_page(session, limit, 0)]
    finally:
        await db.dispose()

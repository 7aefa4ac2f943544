"""``relay dlq list`` and ``relay dlq retry``: dead letters, read from the broker itself.
Ids, topics, consumers and errors only; never a payload (it may hold a child's details)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.runtime.dead_letters import (
    DeadLetterIdError,
    Letter,
    LetterId,
    list_letters,
    retry,
)
from services.runtime.settings import RelaySettings

TopicOption = Annotated[
    str | None, typer.Option(help="only this topic's letters, e.g. acknowledgements.v1")
]


def _record(letter: Letter) -> dict[str, object]:
    body = letter.letter
    return {
        "id": str(letter.id),
        "topic": letter.topic,
        "consumer": body.consumer if body else None,
        "failed_at": body.failed_at.isoformat() if body else None,
        "error": body.error if body else "the dead letter itself does not parse",
        "source": f"{body.partition}/{body.offset}" if body and body.offset is not None else None,
        "retried_at": letter.retried_at.isoformat() if letter.retried_at else None,
    }


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"relay dlq: {exc}", err=True)
    return typer.Exit(1)


def register(app: typer.Typer) -> None:
    dlq_app = typer.Typer(no_args_is_help=True, help="Messages a consumer could not process.")
    app.add_typer(dlq_app, name="dlq")

    @dlq_app.command("list")
    def list_command(
        topic: TopicOption = None,
        all_: Annotated[bool, typer.Option("--all", help="include letters sent back")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="one JSON array")] = False,
    ) -> None:
        """List dead letters not yet sent back: id, topic, consumer, error."""
        settings = RelaySettings()
        try:
            letters = asyncio.run(list_letters(settings, topic, all_))
        except DeadLetterIdError as exc:
            raise _fail(exc) from None
        records = [_record(letter) for letter in letters]
        if as_json:
            typer.echo(json.dumps(records, indent=2))
            return
        if not records:
            typer.echo("No dead letters." if all_ else "No dead letters waiting.")
            return
        table = Table("id", "topic", "consumer", "failed at", "error", "sent back")
        for r in records:
            table.add_row(
                *(str(r[c] or "") for c in ("id", "topic", "consumer", "failed_at", "error")),
                str(r["retried_at"] or ""),
            )
        Console().print(table)

    @dlq_app.command("retry")
    def retry_command(
        ids: Annotated[
            list[str] | None, typer.Argument(help="letter ids from `relay dlq list`")
        ] = None,
        all_: Annotated[bool, typer.Option("--all", help="every letter not yet sent back")] = False,
        topic: TopicOption = None,
    ) -> None:
        """Send dead letters back to their topic, once the cause is fixed. Each goes
        back once; consumers skip what they had already handled."""
        settings = RelaySettings()
        if not ids and not all_:
            raise _fail(ValueError("name the letters to send back (ids), or --all"))
        if ids and all_:
            raise _fail(ValueError("give ids or --all, not both"))
        try:
            parsed = [LetterId.parse(i) for i in ids] if ids else None
            sent = asyncio.run(retry(settings, parsed, topic))
        except DeadLetterIdError as exc:
            raise _fail(exc) from None
        for letter in sent:
            typer.echo(f"sent back {letter.id} to {letter.topic}")
        typer.echo(f"{len(sent)} letter(s) sent back")

"""``relay status [--json]``: the operator's view (relay/status.py), and an exit code
that says whether something needs a person (1) or not (0), for a cron job or a
monitoring check."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from relay.status import Status, gather, problems, words
from services.runtime.settings import SERVICES, RelaySettings


def _urls(given: list[str] | None) -> dict[str, str]:
    urls: dict[str, str] = {}
    for item in given or []:
        service, _, url = item.partition("=")
        if service not in SERVICES or not url.startswith(("http://", "https://")):
            raise typer.BadParameter(
                f"{item!r}: give SERVICE=URL, e.g. console=http://console:8080 "
                f"(services: {', '.join(SERVICES)})",
                param_hint="--url",
            )
        urls[service] = url
    return urls


def _seconds(age: timedelta | None) -> float | None:
    return None if age is None else round(age.total_seconds(), 1)


def as_json(status: Status, needs: list[str]) -> dict[str, Any]:
    return {
        "at": status.at.isoformat(),
        "needs_attention": bool(needs),
        "problems": needs,
        "services": {name: asdict(health) for name, health in status.services.items()},
        "consumer_lag": status.lag,
        "outbox_backlog": {
            name: None
            if backlog is None
            else {
                "messages": backlog.messages,
                "oldest_age_s": _seconds(status.age(backlog.oldest)),
            }
            for name, backlog in status.outbox.items()
        },
        "dead_letters": status.dead_letters,
        "unsent_alerts": status.unsent_alerts,
        "oldest_unsent_alert_age_s": _seconds(status.age(status.oldest_unsent_alert)),
        "directory_import_age_s": _seconds(status.age(status.directory_imported)),
        "unreadable": status.unreadable,
    }


def _print(status: Status, needs: list[str]) -> None:
    out = Console()
    services = Table("service", "state", "health check", title="Services")
    for name, health in status.services.items():
        services.add_row(name, "up" if health.up else f"DOWN ({health.status})", health.url)
    out.print(services)
    flow = Table("service", "behind (messages, per topic)", "to publish (outbox)", title="Flow")
    for name in SERVICES:
        lag = status.lag.get(name, {})
        behind = ", ".join(f"{topic} {'?' if n is None else n}" for topic, n in sorted(lag.items()))
        backlog = status.outbox.get(name)
        pending = (
            "?"
            if backlog is None
            else f"{backlog.messages}"
            + (f", oldest {_age(status.age(backlog.oldest))}" if backlog.oldest else "")
        )
        flow.add_row(name, behind or "—", pending)
    out.print(flow)
    letters = status.dead_letters
    out.print(
        "Dead letters waiting: "
        + ("?" if letters is None else str(sum(letters.values())) if letters else "none")
    )
    unsent = status.age(status.oldest_unsent_alert)
    out.print(
        f"Alerts not yet sent: {'?' if status.unsent_alerts is None else status.unsent_alerts}"
        + (f", the oldest for {_age(unsent)}" if unsent is not None else "")
    )
    imported = status.age(status.directory_imported)
    out.print(f"Directory imported: {'never' if imported is None else _age(imported) + ' ago'}")
    if needs:
        out.print("\n[bold red]Needs a person:[/bold red]")
        for problem in needs:
            out.print(f"  - {problem}", markup=False, highlight=False)
    else:
        out.print("\n[green]All well.[/green]")


def _age(age: timedelta | None) -> str:
    return "—" if age is None else words(age)


def register(app: typer.Typer) -> None:
    @app.command("status")
    def status_command(
        json_: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
        url: Annotated[
            list[str] | None,
            typer.Option(
                help="a service's address when not the settings' own, e.g. "
                "console=http://console:8080 (repeat)"
            ),
        ] = None,
    ) -> None:
        """Each service's state, consumer lag per topic, outbox backlog, dead letters,
        the oldest unsent alert and the age of the last directory import. Exits 1 when
        something needs a person, 0 when all is well."""
        settings = RelaySettings()
        found = asyncio.run(gather(settings, datetime.now(UTC), _urls(url)))
        needs = problems(found)
        if json_:
            typer.echo(json.dumps(as_json(found, needs), indent=2))
        else:
            _print(found, needs)
        raise typer.Exit(1 if needs else 0)

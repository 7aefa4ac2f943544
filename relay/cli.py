"""``relay``: one command for every job (DESIGN §3-§5). Each service adds its own
commands through ``services/<service>/cli.py:register``."""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from relay.serve_cli import HELP, serve, service_settings
from services.runtime.settings import SERVICES, RelaySettings

app = typer.Typer(
    name="relay",
    no_args_is_help=True,
    add_completion=False,
    help=HELP,
)
db_app = typer.Typer(no_args_is_help=True, help="Database migrations.")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(
    service: Annotated[str | None, typer.Argument(help="one service; default all")] = None,
) -> None:
    """Apply the Alembic migrations of every service (or one)."""
    from services.runtime.migrations import upgrade

    settings = RelaySettings()
    for name in [service] if service else SERVICES:
        upgrade(name, settings.database_url_for(name))  # type: ignore[arg-type]
        typer.echo(f"{name}: database at head")


app.command()(serve)


@app.command()
def up(
    demo: Annotated[bool, typer.Option(help="load a synthetic area and play a feed")] = False,
) -> None:
    """Start everything on this machine: broker, SMTP sink, the four services."""
    from relay.up import run_up

    settings = RelaySettings()
    for name in SERVICES:  # each service's own settings, refused before anything starts
        service_settings(name)
    raise typer.Exit(run_up(settings, demo=demo))


for _service in SERVICES:
    try:
        _cli = importlib.import_module(f"services.{_service}.cli")
    except ModuleNotFoundError as exc:
        if exc.name != f"services.{_service}.cli":
            raise
        continue
    _cli.register(app)

for _extra in (
    "relay.schemas_cli",
    "relay.demo_cli",
    "relay.bench_cli",
    "relay.policy_cli",
    "relay.dlq_cli",
    "relay.status_cli",
    "relay.audit_cli",
    "relay.returns_cli",
    "relay.children_cli",
    "relay.matching_cli",
):
    importlib.import_module(_extra).register(app)

"""``relay``: one command for every job (DESIGN §3-§5). Each service adds its own
commands through ``services/<service>/cli.py:register``."""

from __future__ import annotations

import importlib
import logging
from typing import Annotated

import typer

from services.runtime import event_loop
from services.runtime.settings import SERVICES, RelaySettings, ServiceName

app = typer.Typer(
    name="relay",
    no_args_is_help=True,
    add_completion=False,
    help="Missing Episode Relay: tell a missing child's school, GP, YOT and council.",
)
db_app = typer.Typer(no_args_is_help=True, help="Database migrations.")
app.add_typer(db_app, name="db")


def configure_logging(settings: RelaySettings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # At DEBUG aiosqlite logs every statement with its parameters: children's details.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)


def service_settings(name: ServiceName) -> RelaySettings:
    """One service's settings from the environment: the shared ones and its own
    (``services/<service>/settings.py``)."""
    module = importlib.import_module(f"services.{name}.settings")
    settings: RelaySettings = getattr(module, f"{name.capitalize()}Settings")()
    return settings


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


@app.command()
def serve(
    service: Annotated[str, typer.Argument(help="ingest | router | notifier | console")],
    port: Annotated[int | None, typer.Option(help="HTTP port; 0 picks a free one")] = None,
) -> None:
    """Run one service against RELAY_KAFKA_BOOTSTRAP, RELAY_DATABASE_URL, RELAY_SMTP_URL."""
    import uvicorn

    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    name: ServiceName = service  # type: ignore[assignment]
    settings = service_settings(name)
    configure_logging(settings)
    host, default_port = settings.listen(name)
    module = importlib.import_module(f"services.{name}.app")
    server = uvicorn.Server(
        uvicorn.Config(
            module.create_app(settings),
            host=host,
            port=default_port if port is None else port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=30,
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
        )
    )
    try:
        loop = event_loop.loop_name(settings.event_loop)
    except event_loop.EventLoopUnavailable as exc:
        typer.echo(f"relay serve {name}: {exc}", err=True)
        raise typer.Exit(2) from None
    logging.getLogger("relay.serve").info("%s runs on the %s event loop", name, loop)
    event_loop.run(server.serve(), loop)


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

"""``relay serve SERVICE``: run one service. Every service starts this way (``relay up``,
the benchmarks, the tests, the containers' ``CMD``), so :func:`main` builds only this
command when it is asked for: the whole command tree (every service's and tool's
commands, with the benchmarks and the console's pages behind them) costs about half a
second more CPU a start. ``relay --help`` and every other command get the whole tree
(:mod:`relay.cli`), ``serve`` included."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Annotated

import typer

from services.runtime import event_loop
from services.runtime.settings import SERVICES, RelaySettings, ServiceName


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


HELP = "Missing Episode Relay: tell a missing child's school, GP, YOT and council."


def main() -> None:
    """The ``relay`` command (``python -m relay`` and the installed script)."""
    if sys.argv[1:2] == ["serve"]:
        serving = typer.Typer(name="relay", add_completion=False, help=HELP)
        serving.callback()(_relay)  # a callback keeps ``serve`` a subcommand
        serving.command()(serve)
        serving()
    else:
        from relay.cli import app

        app()


def _relay() -> None:
    """Missing Episode Relay (``relay --help`` lists every command)."""

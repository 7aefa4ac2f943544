"""``relay bench hops``: the CPU one hop's handler costs, in this process, without a
broker (issue 18).

The demo area's police feed (``relay demo-data``) goes through the router's real handler
(``on_episode_event``: roll candidates, matching, the person index, routing) on a fresh
database with the area's directory imported, one transaction per event as the consumer
runs it when messages come one at a time. The alerts it asks for then go through the
notifier's real handler (``on_alert_requested``: the alert stored, its status, the
episode's earlier alerts stood down) on a fresh database, one transaction per alert.

What is timed is ``time.process_time`` (CPU of every thread of this process) around the
handler calls and their transactions, the outbox rows they write included: no Kafka
client, no outbox relay, no HTTP, no SMTP. It is the
part of ``relay bench pipeline``'s ``cpu_ms_per_alert`` that the services' own code and
their database work cost, measured on a machine whatever else it is doing (CPU time,
not wall time). Each round starts from fresh databases; rounds give a range.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from relay import demo_data, host_speed
from relay.bench_databases import temporary_database
from relay.identity_bench import accepted
from schemas.catalogue import Topic
from schemas.episode import EpisodeEventV1
from schemas.messages import AlertRequestedV1
from services.notifier import tables as notifier_tables
from services.notifier.handlers import on_alert_requested
from services.router import importing
from services.router import tables as router_tables
from services.router.handlers import on_episode_event
from services.router.model import read_model
from services.runtime.database import Database
from services.runtime.handling import Outbox
from services.runtime.messaging import MessagingTables
from services.runtime.migrations import upgrade
from services.runtime.one_off import one_off_database
from services.runtime.settings import RelaySettings

MODEL_FILE = Path(__file__).resolve().parents[1] / "deploy" / "matching-model.json"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@dataclass
class _KeepingOutbox(Outbox):
    """The service's outbox (written in the handler's transaction), also keeping what was
    published: the router's alerts are the notifier's input."""

    kept: list[BaseModel] = field(default_factory=list)
    topics: list[Topic] = field(default_factory=list)

    async def publish(self, topic: Topic, key: str | None, message: BaseModel) -> None:
        self.kept.append(message)
        self.topics.append(topic)
        await super().publish(topic, key, message)


class Collected:
    """What a hop published, over its transactions."""

    def __init__(self, tables: MessagingTables) -> None:
        self.tables, self.settings = tables, RelaySettings()
        self.messages: list[BaseModel] = []
        self.topics: list[Topic] = []  # each message's topic
        self.marks: list[int] = []  # how many messages there were after each input

    def into(self, session: AsyncSession) -> Outbox:
        return _KeepingOutbox(
            session, self.tables, self.settings, kept=self.messages, topics=self.topics
        )


@dataclass(frozen=True)
class HopRound:
    events: int
    router_cpu_s: float
    router_published: int
    router_refused: int  # events the router sends to its dead-letter topic
    alerts: int
    notifier_cpu_s: float
    notifier_published: int

    @property
    def router_ms_per_event(self) -> float:
        return 1000 * self.router_cpu_s / max(self.events, 1)

    @property
    def notifier_ms_per_alert(self) -> float:
        return 1000 * self.notifier_cpu_s / max(self.alerts, 1)


async def router_hop(db: Database, events: list[EpisodeEventV1]) -> tuple[float, Collected, int]:
    model = read_model(MODEL_FILE)
    out, refused = Collected(router_tables.messaging), 0
    started = time.process_time()
    for event in events:
        try:
            async with db.transaction() as session:
                await on_episode_event(session, event, out.into(session), None, model)
        except Exception:
            refused += 1
        out.marks.append(len(out.messages))
    return time.process_time() - started, out, refused


async def notifier_hop(db: Database, alerts: list[AlertRequestedV1]) -> tuple[float, Collected]:
    out = Collected(notifier_tables.messaging)
    started = time.process_time()
    for alert in alerts:
        async with db.transaction() as session:
            await on_alert_requested(session, alert, out.into(session))
        out.marks.append(len(out.messages))
    return time.process_time() - started, out


async def _routed(
    router_url: str, area_dir: Path, events: list[Any]
) -> tuple[float, Collected, int]:
    async with one_off_database(router_url) as db:
        await importing.import_organisations(db, area_dir / "organisations.csv")
        await importing.import_rolls(
            db, [area_dir / f"roll_{kind}.csv" for kind in ("schools", "gps", "yot")]
        )
        return await router_hop(db, events)


async def routed_alerts(
    router_url: str, area_dir: Path, events: list[Any]
) -> list[AlertRequestedV1]:
    """The alerts the router asks for when ``events`` go through it (``relay bench
    delivery``'s input), on a fresh router database at ``router_url``."""
    _cpu, routed, _refused = await _routed(router_url, area_dir, events)
    return [m for m in routed.messages if isinstance(m, AlertRequestedV1)]


async def _round(router_url: str, notifier_url: str, area_dir: Path, events: list[Any]) -> HopRound:
    router_s, routed, refused = await _routed(router_url, area_dir, events)
    alerts = [m for m in routed.messages if isinstance(m, AlertRequestedV1)]
    async with one_off_database(notifier_url) as db:
        notifier_s, notified = await notifier_hop(db, alerts)
    return HopRound(
        len(events), router_s, len(routed.messages), refused, len(alerts), notifier_s,
        len(notified.messages),
    )  # fmt: skip


def run_hops(
    children: int,
    seed: int,
    rounds: int,
    server_url: str | None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    area = demo_data.generate(children, seed=seed, now=NOW)
    events = accepted(area)
    done: list[HopRound] = []
    host_before = host_speed.measure()
    with tempfile.TemporaryDirectory(prefix="relay-bench-hops-") as tmp:
        folder = Path(tmp)
        demo_data.write_area(area, folder / "area")
        for n in range(rounds):
            if progress is not None:
                progress("rounds", n, rounds)
            (folder / f"r{n}").mkdir()
            (folder / f"n{n}").mkdir()
            with (
                temporary_database(folder / f"r{n}", server_url) as (kind, router_url),
                temporary_database(folder / f"n{n}", server_url) as (_, notifier_url),
            ):
                upgrade("router", router_url)
                upgrade("notifier", notifier_url)
                done.append(asyncio.run(_round(router_url, notifier_url, folder / "area", events)))
        if progress is not None:
            progress("rounds", rounds, rounds)
    return {
        "host_ms": {"before": host_before, "after": host_speed.measure()},
        "database": kind,
        "children": children,
        "seed": seed,
        "events": len(events),
        "rounds": [r.__dict__ for r in done],
        "router_ms_per_event": [round(r.router_ms_per_event, 3) for r in done],
        "notifier_ms_per_alert": [round(r.notifier_ms_per_alert, 3) for r in done],
        "alerts_per_event": round(done[0].alerts / max(done[0].events, 1), 2),
    }


def span(values: list[float], digits: int = 2) -> str:
    """A bench's figures over its rounds: the one figure, or the least to the most."""
    low, high = min(values), max(values)
    return f"{low:,.{digits}f}" if len(values) == 1 else f"{low:,.{digits}f} to {high:,.{digits}f}"


def hops(
    children: Annotated[int, typer.Option(min=100, help="children in the synthetic area")] = 3000,
    seed: Annotated[int, typer.Option(help="the area's random seed")] = 0,
    rounds: Annotated[int, typer.Option(min=1, help="rounds, each on fresh databases")] = 3,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the figures to this file")
    ] = None,
) -> None:
    """CPU of the router's and the notifier's handlers in this process, without a broker:
    the demo area's feed through the router (one transaction per event) and the alerts
    it asks for through the notifier (one per alert), on fresh databases
    (RELAY_DATABASE_URL's PostgreSQL server, else SQLite)."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        console=Console(stderr=True), transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("rounds", total=rounds)
        figures = run_hops(
            children, seed, rounds, os.environ.get("RELAY_DATABASE_URL"),
            lambda _stage, done, _total: bar.update(task, completed=done),
        )  # fmt: skip
    if json_out is not None:
        json_out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    first = figures["rounds"][0]
    table = Table(
        title=f"relay bench hops ({figures['database']}, {rounds} rounds: least to most)",
        caption=host_speed.caption(figures["host_ms"]),
    )
    table.add_column("hop")
    table.add_column("messages in", justify="right")
    table.add_column("published", justify="right")
    table.add_column("ms CPU per message", justify="right")
    table.add_row(
        "router: episode-events",
        f"{first['events']:,} ({first['router_refused']} refused)",
        f"{first['router_published']:,}",
        span(figures["router_ms_per_event"]),
    )
    table.add_row(
        "notifier: alerts-requested",
        f"{first['alerts']:,}",
        f"{first['notifier_published']:,}",
        span(figures["notifier_ms_per_alert"]),
    )
    Console().print(table)


def register(bench_app: typer.Typer) -> None:
    """``relay bench hops`` on ``bench_app``."""
    bench_app.command("hops")(hops)

"""``relay bench console``: the CPU the console's consumer costs per alert, in this
process, without a broker (issue 18).

The demo area's feed goes through the router's and the notifier's real handlers as in
``relay bench hops`` (relay/hop_bench.py); what they published, with the feed's episode
events, is then consumed by the console as production consumes it: its subscriptions
(services/console/handlers.py) on the runtime's :class:`Consumers`, one
``consume_batch`` (one transaction, inbox rows included) per ``--batch`` records, each
record the message's JSON as the broker would carry it. The order is the one the
pipeline gives: an event, what the router published for it, then what the notifier
published for each of those alerts, then the alert's ``sent`` status as the delivery
loop publishes it once the email is accepted (made here from its ``queued`` status: the
bench runs no SMTP).

What is timed is ``time.process_time`` around the console's batches: parsing included,
no Kafka client. The figure is per alert (``alerts-requested`` messages), as the
pipeline's ``cpu_ms_per_alert``; by topic too, from one message at a time in a second
pass on a fresh database (``--by-topic``).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from relay import demo_data
from relay.bench_databases import temporary_database
from relay.hop_bench import NOW, Collected, notifier_hop, router_hop
from relay.identity_bench import accepted
from schemas.catalogue import ALERT_STATUS, EPISODE_EVENTS, Topic
from schemas.messages import AlertRequestedV1, AlertState, AlertStatusV1
from services.console import handlers
from services.console.tables import metadata
from services.router import importing
from services.runtime.consumer import Consumers
from services.runtime.database import Database
from services.runtime.kafka import create_broker
from services.runtime.migrations import upgrade
from services.runtime.one_off import one_off_database
from services.runtime.service import ServiceRuntime
from services.runtime.settings import RelaySettings


@dataclass(frozen=True)
class _Record:
    """What the consumer reads of an aiokafka ``ConsumerRecord``."""

    topic: str
    value: bytes
    partition: int = 0
    offset: int = 0
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


def _sent(status: AlertStatusV1) -> AlertStatusV1:
    return status.model_copy(
        update={
            "message_id": f"{status.message_id}-sent",
            "state": AlertState.SENT,
            "attempt": 1,
            "at": status.at + timedelta(seconds=2),
        }
    )


def _stream(
    events: list[Any], routed: Collected, notified: Collected
) -> list[tuple[Topic, BaseModel]]:
    """The console's input in pipeline order (see the module's docstring)."""
    out: list[tuple[Topic, BaseModel]] = []
    alert, start = 0, 0
    for event, end in zip(events, routed.marks, strict=True):
        out.append((EPISODE_EVENTS, event))
        for topic, message in zip(
            routed.topics[start:end], routed.messages[start:end], strict=True
        ):
            out.append((topic, message))
        for message in routed.messages[start:end]:
            if not isinstance(message, AlertRequestedV1):
                continue
            first = notified.marks[alert - 1] if alert else 0
            last = notified.marks[alert]
            alert += 1
            for topic, status in zip(
                notified.topics[first:last], notified.messages[first:last], strict=True
            ):
                out.append((topic, status))
                if isinstance(status, AlertStatusV1) and status.state == AlertState.QUEUED:
                    out.append((ALERT_STATUS, _sent(status)))
        start = end
    return out


def console_consumers(db: Database, settings: RelaySettings) -> Consumers:
    """The console's consumers as its service wires them (no broker started)."""
    broker = create_broker(settings, client_id="relay-bench-console")  # never started
    runtime = ServiceRuntime.build("console", settings, metadata, db=db, broker=broker)
    for topic, handler in handlers.subscriptions():
        runtime.consumers.subscribe(topic, handler)
    return runtime.consumers


def records(stream: list[tuple[Topic, BaseModel]], settings: RelaySettings) -> list[Any]:
    """Each message as the broker would hand it to the consumer."""
    return [
        _Record(settings.topic(topic.wire), message.model_dump_json().encode(), offset=n)
        for n, (topic, message) in enumerate(stream)
    ]


async def _feed(url: str, stream: list[tuple[Topic, BaseModel]], batch: int) -> dict[str, Any]:
    settings = RelaySettings()
    async with one_off_database(url) as db:
        consumers = console_consumers(db, settings)
        fed = records(stream, settings)
        by_topic: dict[str, float] = {}
        started = time.process_time()
        for n in range(0, len(fed), batch):
            chunk = fed[n : n + batch]
            t0 = time.process_time()
            await consumers.consume_batch(chunk)
            if batch == 1:
                wire = chunk[0].topic
                by_topic[wire] = by_topic.get(wire, 0.0) + time.process_time() - t0
        cpu = time.process_time() - started
        counters = consumers.counters
        return {
            "cpu_s": cpu,
            "processed": counters.processed,
            "dead_lettered": counters.dead_lettered,
            "by_topic_s": by_topic,
        }


async def _upstream(area_dir: Path, events: list[Any], router_url: str, notifier_url: str) -> Any:
    async with one_off_database(router_url) as db:
        await importing.import_organisations(db, area_dir / "organisations.csv")
        await importing.import_rolls(
            db, [area_dir / f"roll_{kind}.csv" for kind in ("schools", "gps", "yot")]
        )
        _, routed, _ = await router_hop(db, events)
    alerts = [m for m in routed.messages if isinstance(m, AlertRequestedV1)]
    async with one_off_database(notifier_url) as db:
        _, notified = await notifier_hop(db, alerts)
    return routed, notified, len(alerts)


def console_stream(
    children: int, seed: int, folder: Path, server_url: str | None
) -> tuple[str, list[tuple[Topic, BaseModel]], int]:
    """The database kind, the console's input for the demo area (in pipeline order) and
    how many alerts it holds; ``folder`` takes the area and the upstream databases."""
    area = demo_data.generate(children, seed=seed, now=NOW)
    events = accepted(area)
    demo_data.write_area(area, folder / "area")
    for name in ("r", "n"):
        (folder / name).mkdir()
    with (
        temporary_database(folder / "r", server_url) as (kind, router_url),
        temporary_database(folder / "n", server_url) as (_, notifier_url),
    ):
        upgrade("router", router_url)
        upgrade("notifier", notifier_url)
        routed, notified, alerts = asyncio.run(
            _upstream(folder / "area", events, router_url, notifier_url)
        )
    return kind, _stream(events, routed, notified), alerts


def feed_console(
    folder: Path, server_url: str | None, stream: list[tuple[Topic, BaseModel]], batch: int
) -> dict[str, Any]:
    """``stream`` through the console's consumer on a fresh database in ``folder``."""
    folder.mkdir()
    with temporary_database(folder, server_url) as (_, console_url):
        upgrade("console", console_url)
        return asyncio.run(_feed(console_url, stream, batch))


def run_console(
    children: int, seed: int, rounds: int, batch: int, by_topic: bool, server_url: str | None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="relay-bench-console-") as tmp:
        folder = Path(tmp)
        kind, stream, alerts = console_stream(children, seed, folder, server_url)
        passes = [batch] * rounds + ([1] if by_topic else [])
        done = [
            feed_console(folder / f"c{n}", server_url, stream, size)
            for n, size in enumerate(passes)
        ]
    batched = done[:rounds]
    return {
        "database": kind,
        "events": sum(1 for topic, _ in stream if topic is EPISODE_EVENTS),
        "messages": len(stream),
        "alerts": alerts,
        "batch": batch,
        "rounds": batched,
        "console_ms_per_alert": [round(1000 * r["cpu_s"] / alerts, 3) for r in batched],
        "by_topic_ms_per_alert": (
            {k: round(1000 * v / alerts, 3) for k, v in done[-1]["by_topic_s"].items()}
            if by_topic
            else {}
        ),
        "count_by_topic": _counts(stream),
    }


def _counts(stream: list[tuple[Topic, BaseModel]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for topic, _ in stream:
        counts[topic.wire] = counts.get(topic.wire, 0) + 1
    return counts


def console(
    children: Annotated[int, typer.Option(min=100, help="children in the synthetic area")] = 3000,
    seed: Annotated[int, typer.Option(help="the area's random seed")] = 0,
    rounds: Annotated[int, typer.Option(min=1, help="rounds, each on a fresh database")] = 3,
    batch: Annotated[int, typer.Option(min=1, help="records per consumer batch")] = 50,
    by_topic: Annotated[
        bool, typer.Option(help="also one message per transaction, timed by topic")
    ] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the figures to this file")
    ] = None,
) -> None:
    """CPU of the console's consumer per alert, in this process, without a broker: the
    demo feed's events and what the router and the notifier publish for them, one
    consumer batch per --batch records (RELAY_DATABASE_URL's PostgreSQL, else SQLite)."""
    figures = run_console(
        children, seed, rounds, batch, by_topic, os.environ.get("RELAY_DATABASE_URL")
    )
    if json_out is not None:
        json_out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    table = Table(title=f"relay bench console ({figures['database']}, batch {batch})")
    table.add_column("what")
    table.add_column("ms CPU per alert", justify="right")
    values = figures["console_ms_per_alert"]
    table.add_row(
        f"all {figures['messages']:,} messages, {figures['alerts']:,} alerts",
        f"{min(values):.3f} to {max(values):.3f}",
    )
    for wire, ms in sorted(figures["by_topic_ms_per_alert"].items(), key=lambda kv: -kv[1]):
        table.add_row(f"  {wire} (one a transaction)", f"{ms:.3f}")
    Console().print(table)


def register(bench_app: typer.Typer) -> None:
    """``relay bench console`` on ``bench_app``."""
    bench_app.command("console")(console)

"""``relay bench delivery``: the notifier's delivery in this process, stage by stage
(issue 18), against a lean reference doing the same work.

The alerts the demo area's feed asks for (``relay bench hops``'s router hop) are stored
through the notifier's real handler, made due, then delivered by the scheduler's real
code to an SMTP sink (aiosmtpd) in a child process, so the sink's CPU is not counted:
per batch the follow-ups poll (escalations and RHI reminders due), the claim
transaction, then per alert the email rendered, the SMTP exchange (aiosmtplib, one
connection kept open) and the outcome transaction (attempt finished, disclosure chained,
alert marked sent, its ``alert-status`` in the outbox), and after the batch the outbox
relay's database work (its rows read and marked published; the producer is a stand-in
that acknowledges at once, so Kafka's client is not in these figures). One sender, so
each outcome is a group of one (the pipeline's groups average about 1.07).

The lean reference (:mod:`relay.delivery_lean`, SQLite only) writes the same rows in
the same transactions with the standard library's ``sqlite3`` and sends the same bytes
with aiosmtplib. CPU is ``time.process_time`` around each stage.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import update

from relay import demo_data, host_speed
from relay.bench_databases import temporary_database
from relay.embedded import free_port
from relay.hop_bench import NOW, routed_alerts, span
from relay.identity_bench import accepted
from schemas.messages import AlertRequestedV1
from services.notifier import repository
from services.notifier import tables as notifier_tables
from services.notifier.content import AlertContent
from services.notifier.handlers import on_alert_requested
from services.notifier.rendering import OutgoingEmail, Renderer
from services.notifier.scheduler import Attempted, DeliveryScheduler
from services.notifier.smtp import SmtpMailer
from services.runtime.database import Database, utcnow
from services.runtime.handling import Outbox
from services.runtime.messaging import OutboxRelay
from services.runtime.migrations import upgrade
from services.runtime.one_off import one_off_database
from services.runtime.settings import RelaySettings

STAGES = ("poll", "claim", "render", "send", "outcome", "relay")
BATCH = 50  # the scheduler's default batch
SENDER = "Missing Episode Relay <relay@example.org>"


@dataclass
class StageClock:
    """CPU seconds per stage (``time.process_time``: every thread of this process)."""

    cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    batches: int = 0
    alerts: int = 0

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.process_time()
        try:
            yield
        finally:
            self.cpu[name] += time.process_time() - started

    def per_alert_ms(self) -> dict[str, float]:
        n = max(self.alerts, 1)
        out = {name: round(1000 * s / n, 3) for name, s in self.cpu.items()}
        out["total"] = round(1000 * sum(self.cpu.values()) / n, 3)
        return out


class AckedAtOnce:
    """The relay's producer stand-in: every message acknowledged at once."""

    def __init__(self) -> None:
        self.sent = 0

    async def send(
        self, topic: str, key: str | None, payload: bytes, headers: dict[str, str]
    ) -> asyncio.Future[None]:
        self.sent += 1
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def _sink_process(port: int, ready: Any, stop: Any) -> None:
    from relay.smtp_sink import start_sink

    controller, _handler = start_sink("127.0.0.1", port)
    ready.set()
    stop.wait()
    controller.stop()


@contextmanager
def sink_in_child() -> Iterator[str]:
    """An aiosmtpd sink in a child process; its SMTP URL."""
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Event(), context.Event()
    port = free_port()
    child = context.Process(target=_sink_process, args=(port, ready, stop), daemon=True)
    child.start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the SMTP sink did not start")
        yield f"smtp://127.0.0.1:{port}?pool=1"
    finally:
        stop.set()
        child.join(10)


def renderer() -> Renderer:
    """The notifier's renderer, its one-off work done (as the service does at start)."""
    render = Renderer("https://relay.example.org", SENDER)
    render.policy.calendar.prepare((NOW.year, utcnow().year, utcnow().year + 1))
    for folder in render.folders():
        render.prepare(folder)
    return render


async def store_due(db: Database, alerts: list[AlertRequestedV1]) -> None:
    """The alerts stored by the notifier's handler (not timed), all due now."""
    out_settings = RelaySettings()
    for alert in alerts:
        async with db.transaction() as session:
            await on_alert_requested(
                session, alert, Outbox(session, notifier_tables.messaging, out_settings)
            )
    async with db.transaction() as session:
        await session.execute(update(notifier_tables.alerts).values(due_at=utcnow()))
        await session.execute(
            update(notifier_tables.messaging.outbox).values(published_at=utcnow())
        )


def _render(
    render: Renderer, item: repository.Claimed, now: datetime
) -> tuple[Attempted, OutgoingEmail]:
    content = AlertContent.from_alert(item.alert)
    email = render.compose(content, now)
    return Attempted(item.alert, item.attempt, None, render.disclosed_fields(content)), email


async def project_delivery(db: Database, smtp_url: str, render: Renderer) -> tuple[StageClock, int]:
    """Deliver every due alert with the notifier's code; the clock and the messages the
    relay published."""
    settings, clock, acked = RelaySettings(), StageClock(), AckedAtOnce()
    mailer = SmtpMailer(smtp_url)
    tables = notifier_tables.messaging
    relay = OutboxRelay(db, tables, acked)
    scheduler = DeliveryScheduler(db, tables, settings, render, mailer, relay, batch_size=BATCH)
    async with mailer.session() as smtp:
        while True:
            clock.batches += 1
            with clock.stage("poll"):
                await scheduler.follow_ups.run_once()
            with clock.stage("claim"):
                # As the scheduler claims (DeliveryScheduler._claim).
                claimed = await db.run(
                    lambda c: repository.claim_due_on(c, utcnow(), BATCH), urgent=True
                )
            if not claimed:
                break
            for item in claimed:
                with clock.stage("render"):
                    attempted, email = _render(render, item, utcnow())
                with clock.stage("send"):
                    attempted.failure = await smtp.send(email, item.alert.recipient_email)
                with clock.stage("outcome"):
                    await scheduler._record([attempted])
                clock.alerts += 1
            with clock.stage("relay"):
                await relay.publish_pending()
    await mailer.close()
    if scheduler.failed:
        raise RuntimeError(f"{scheduler.failed} alert(s) not delivered to the sink")
    return clock, acked.sent


async def _prepare(url: str, alerts: list[AlertRequestedV1]) -> None:
    async with one_off_database(url) as db:
        await store_due(db, alerts)


async def _project(url: str, smtp_url: str, render: Renderer) -> tuple[StageClock, int]:
    async with one_off_database(url) as db:
        return await project_delivery(db, smtp_url, render)


def run_delivery(
    children: int, seed: int, rounds: int, server_url: str | None, lean: bool = True
) -> dict[str, Any]:
    from relay.delivery_lean import lean_delivery

    area = demo_data.generate(children, seed=seed, now=NOW)
    events = accepted(area)
    render = renderer()
    project_rounds: list[dict[str, float]] = []
    lean_rounds: list[dict[str, float]] = []
    figures: dict[str, Any] = {"children": children, "seed": seed}
    host_before = host_speed.measure()
    with (
        tempfile.TemporaryDirectory(prefix="relay-bench-delivery-") as tmp,
        sink_in_child() as smtp,
    ):
        folder = Path(tmp)
        demo_data.write_area(area, folder / "area")
        (folder / "router").mkdir()
        with temporary_database(folder / "router", None) as (_, router_url):
            upgrade("router", router_url)
            alerts = asyncio.run(routed_alerts(router_url, folder / "area", events))
        for n in range(rounds):
            for which in ("project", "lean") if lean else ("project",):
                (folder / f"{which}{n}").mkdir()
                server = server_url if which == "project" else None
                with temporary_database(folder / f"{which}{n}", server) as (kind, url):
                    upgrade("notifier", url)
                    asyncio.run(_prepare(url, alerts))
                    if which == "project":
                        clock, published = asyncio.run(_project(url, smtp, render))
                        figures.update(database=kind, published=published, sent=clock.alerts)
                        figures["batches"] = clock.batches
                        project_rounds.append(clock.per_alert_ms())
                    else:
                        lean_clock = asyncio.run(lean_delivery(url, smtp, render))
                        lean_rounds.append(lean_clock.per_alert_ms())
                    figures["requested"] = len(alerts)
    figures["project_ms_per_alert"] = project_rounds
    figures["lean_ms_per_alert"] = lean_rounds
    figures["host_ms"] = {"before": host_before, "after": host_speed.measure()}
    return figures


def delivery(
    children: Annotated[int, typer.Option(min=100, help="children in the synthetic area")] = 1000,
    seed: Annotated[int, typer.Option(help="the area's random seed")] = 0,
    rounds: Annotated[int, typer.Option(min=1, help="rounds, each on fresh databases")] = 2,
    lean: Annotated[bool, typer.Option(help="also the lean reference (sqlite3)")] = True,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the figures to this file")
    ] = None,
) -> None:
    """CPU of the notifier's delivery in this process, stage by stage (poll, claim,
    render, SMTP to a sink in a child process, outcome transaction, outbox relay), and of
    a lean reference doing the same work with sqlite3 (RELAY_DATABASE_URL's PostgreSQL
    server for the notifier's code, else SQLite; the reference always on SQLite)."""
    figures = run_delivery(children, seed, rounds, os.environ.get("RELAY_DATABASE_URL"), lean)
    if json_out is not None:
        json_out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    table = Table(
        title=f"relay bench delivery ({figures['database']}, {figures['sent']:,} alerts sent, "
        f"{figures['batches']} batches, {rounds} rounds: least to most), ms CPU per alert",
        caption=host_speed.caption(figures["host_ms"]),
    )
    table.add_column("stage")
    table.add_column("notifier's code", justify="right")
    table.add_column("lean (sqlite3)", justify="right")
    for stage in (*STAGES, "total"):
        project = span([r[stage] for r in figures["project_ms_per_alert"]], 3)
        reference = figures["lean_ms_per_alert"]
        table.add_row(stage, project, span([r[stage] for r in reference], 3) if reference else "")
    Console().print(table)


def register(bench_app: typer.Typer) -> None:
    """``relay bench delivery`` on ``bench_app``."""
    bench_app.command("delivery")(delivery)

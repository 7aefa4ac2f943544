"""``relay bench pipeline``: the whole stack under a police feed, measured against its
floor (issue 7).

The stack is what ``relay up`` runs (the four services as processes; the embedded broker
unless RELAY_KAFKA_BOOTSTRAP; SQLite unless RELAY_DATABASE_URL, then a fresh database on
that server), with an SMTP sink in this process that notes when it accepted each
message. A generated area is imported, then N ``reported`` events for children on its
school rolls are posted (at a set rate, or as fast as the API answers). Latency runs
from the 202 of an event to the sink's acceptance of each of its alerts.

The floor is the same work done raw: N messages through three Kafka hops with aiokafka
(produce, consume and produce twice, consume), and as many emails as the pipeline
delivered sent with aiosmtplib over as many connections as the notifier uses, to the
same sink. The two overlap in the pipeline, so the floor is the slower of them. The
durable floor adds the least the delivery rules cost, fsync'd SQLite transactions
(:mod:`relay.pipeline_floors`). CPU per alert is each service process's user and system
time (``/proc``) from the first post to the last mail, over the mails; the host's speed
(:mod:`relay.host_speed`) is taken before and after, so that runs of different days compare.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from relay.bench_databases import temporary_database
from relay.bench_scoring import percentile
from relay.embedded import EmbeddedBroker, free_port
from relay.host_speed import measure as host_speed
from relay.pipeline_floors import kafka_floor, smtp_floor
from relay.pipeline_load import REF, Progress, post_events, school_roll_events, wait_for_mail
from relay.pipeline_stack import BenchStack, prepare, stack_settings
from relay.process_usage import RssPeaks
from relay.smtp_sink import Received, SinkHandler, start_sink
from services.notifier.smtp import parse_smtp_url
from services.runtime.settings import RelaySettings


def targets(figures: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The issues' targets (7 and 18), as far as this run can judge them."""
    rss = max(figures["peak_rss_mb"].values())
    cpu = figures["cpu_ms_per_alert"]

    def service_cpu(service: str) -> float:  # with its copies (``notifier-2``...)
        return sum(ms for name, ms in cpu.items() if name.split("-")[0] == service)

    out = {
        "ratio": {
            "pass": figures["ratio"] <= 3.0,
            "text": "pipeline <= 3x the floor",
        },
        "ratio_durable": {
            "pass": figures["ratio_durable"] <= 1.5,
            "text": "pipeline <= 1.5x the durable floor",
        },
        "cpu_ms_per_alert": {
            "pass": cpu["total"] <= 4.0
            and service_cpu("notifier") <= 1.5
            and service_cpu("console") <= 0.7,
            "text": "service CPU per alert <= 4 ms (notifier 1.5, console 0.7)",
        },
        "peak_rss_mb": {"pass": rss < 1024, "text": "every service < 1 GiB"},
        "duplicates": {"pass": figures["duplicates"] == 0, "text": "no alert sent twice"},
    }
    if figures["rate"] is not None and figures["rate"] <= 50:
        out["latency_p99_ms"] = {
            "pass": figures["latency_ms"]["p99"] < 1000,
            "text": "p99 from 202 to SMTP < 1 s at <= 50 events/s",
        }
    return out


def run_pipeline(
    events: int,
    rate: float | None = None,
    children: int = 3000,
    seed: int = 0,
    progress: Progress | None = None,
    workdir: Path | None = None,
    copies: int = 1,
) -> dict[str, Any]:
    """Run the stack under ``events`` events; the figures (see ``relay bench pipeline``).
    With ``copies`` > 1, router and notifier each run that many processes."""
    report: Progress = progress or (lambda _stage, _done, _total: None)
    server_url = os.environ.get("RELAY_DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="relay-pipeline-", dir=workdir) as tmp:
        folder = Path(tmp)
        with temporary_database(folder, server_url) as (kind, url):
            return _run(folder, kind, url, events, rate, children, seed, report, copies)


def _run(
    folder: Path,
    kind: str,
    url: str,
    count: int,
    rate: float | None,
    children: int,
    seed: int,
    progress: Progress,
    copies: int = 1,
) -> dict[str, Any]:
    bootstrap = os.environ.get("RELAY_KAFKA_BOOTSTRAP")
    smtp_port = free_port()
    sink, handler = start_sink("127.0.0.1", smtp_port)
    broker = None
    stack = BenchStack(stack_settings(folder, kind, url, bootstrap, smtp_port))
    try:
        if bootstrap is None:
            broker = EmbeddedBroker(stack.settings.embedded_kafka_port, folder / "broker.log")
            broker.start()
            update = {"kafka_bootstrap": broker.bootstrap}
            stack.settings = stack.settings.model_copy(update=update)
        area, key = prepare(stack, folder, kind, url, children, copies, progress)
        batch = school_roll_events(area, count, seed)
        host_before = host_speed()
        delivery = _deliver(stack, handler, key, batch, rate, progress)
        host_ms = {"before": host_before, "after": host_speed()}
        size = len(json.dumps(batch[0]).encode())
        floors = _floors(
            stack.settings, folder, smtp_port, handler, delivery, count, size, progress
        )
        return {
            **_figures(kind, bootstrap, count, rate, copies, delivery, floors),
            "host_ms": host_ms,
        }
    finally:
        stack.stopping.set()
        stack.stop_services()
        sink.stop()
        if broker is not None:
            broker.stop()


@dataclass(frozen=True)
class _Delivery:
    """What the pipeline did with the batch: the mail, and what it cost each process."""

    received: list[Received]
    latencies: list[float]  # ms, from an event's 202 to the sink's acceptance of its mail
    posting_s: float
    pipeline_s: float
    cpu_ms: dict[str, float]
    peak_rss_mb: dict[str, float]


def _deliver(
    stack: BenchStack,
    handler: SinkHandler,
    key: str,
    batch: list[dict[str, Any]],
    rate: float | None,
    progress: Progress,
) -> _Delivery:
    """Post the batch, wait for the mail to stop, and stop the services."""
    count = len(batch)
    ingest = "http://{}:{}".format(*stack.settings.listen("ingest"))
    processes = {s: psutil.Process(c.process.pid) for s, c in stack.children.items()}
    peaks = RssPeaks(processes)
    with peaks.sampling():
        cpu_before = peaks.cpu_now()
        started = time.time()
        accepted, posting_s = asyncio.run(post_events(ingest, key, batch, rate, progress))
        wait_for_mail(handler.received, progress, count, timeout_s=600 + count)
    received = list(handler.received)
    last_mail = max(r.at for r in received)
    # From the first post to the last mail: the quiet wait after it is not the run's.
    cpu_after = peaks.cpu_until(last_mail)
    stack.stopping.set()
    stack.stop_services()
    latencies = [
        (r.at - accepted[m.group()]) * 1000
        for r in received
        if (m := REF.search(r.message.get("Subject", ""))) and m.group() in accepted
    ]
    cpu_ms = {
        name: round((cpu_after.get(name, 0.0) - cpu_before.get(name, 0.0)) * 1000, 1)
        for name in processes
    }
    peak_rss_mb = {s: round(peaks.peaks.get(s, 0) / 2**20, 1) for s in processes}
    return _Delivery(received, latencies, posting_s, last_mail - started, cpu_ms, peak_rss_mb)


@dataclass(frozen=True)
class _Floors:
    kafka_s: float
    smtp_s: float
    durable_kafka_s: float
    durable_smtp_s: float
    smtp_connections: int  # the notifier's pool, and the SMTP floors' connections


def _floors(
    settings: RelaySettings,
    folder: Path,
    smtp_port: int,
    handler: SinkHandler,
    delivery: _Delivery,
    count: int,
    size: int,
    progress: Progress,
) -> _Floors:
    """The same work done raw, then with the least the delivery rules cost."""
    received = delivery.received
    connections = parse_smtp_url(settings.smtp).pool  # as many as the notifier kept
    progress("floor", 0, 4)
    kafka_s = asyncio.run(kafka_floor(settings, count, size))
    progress("floor", 1, 4)
    handler.received.clear()
    smtp_s = asyncio.run(smtp_floor(smtp_port, len(received), received[0].data, connections))
    progress("floor", 2, 4)
    journals = folder / "durable-floor"
    journals.mkdir()
    durable_kafka_s = asyncio.run(kafka_floor(settings, count, size, journals))
    progress("floor", 3, 4)
    handler.received.clear()
    durable_smtp_s = asyncio.run(
        smtp_floor(smtp_port, len(received), received[0].data, connections, journals / "smtp.db")
    )
    progress("floor", 4, 4)
    return _Floors(kafka_s, smtp_s, durable_kafka_s, durable_smtp_s, connections)


def _figures(
    kind: str,
    bootstrap: str | None,
    count: int,
    rate: float | None,
    copies: int,
    delivery: _Delivery,
    floors: _Floors,
) -> dict[str, Any]:
    received, latencies, cpu_ms = delivery.received, delivery.latencies, delivery.cpu_ms
    pipeline_s = delivery.pipeline_s
    floor_s = max(floors.kafka_s, floors.smtp_s)
    durable_floor_s = max(floors.durable_kafka_s, floors.durable_smtp_s)
    return {
        "database": kind,
        "broker": "kafka" if bootstrap else "embedded",
        "events": count,
        "rate": rate,
        "alerts": len(received),
        "events_per_s": round(count / delivery.posting_s, 1),
        "alerts_per_s": round(len(received) / pipeline_s, 1),
        "latency_ms": {
            "p50": round(percentile(latencies, 0.50), 1),
            "p95": round(percentile(latencies, 0.95), 1),
            "p99": round(percentile(latencies, 0.99), 1),
            "max": round(max(latencies), 1),
        },
        "pipeline_s": round(pipeline_s, 3),
        "posting_s": round(delivery.posting_s, 2),
        "floor_s": round(floor_s, 3),
        "floor_kafka_s": round(floors.kafka_s, 3),
        "floor_smtp_s": round(floors.smtp_s, 3),
        "ratio": round(pipeline_s / floor_s, 2),
        "durable_floor_s": round(durable_floor_s, 3),
        "durable_floor_kafka_s": round(floors.durable_kafka_s, 3),
        "durable_floor_smtp_s": round(floors.durable_smtp_s, 3),
        "ratio_durable": round(pipeline_s / durable_floor_s, 2),
        "smtp_connections": floors.smtp_connections,
        "cpu_ms_per_alert": {
            **{name: round(ms / len(received), 2) for name, ms in cpu_ms.items()},
            "total": round(sum(cpu_ms.values()) / len(received), 2),
        },
        "cpu_s": {name: round(ms / 1000, 2) for name, ms in cpu_ms.items()},
        "copies": copies,
        "peak_rss_mb": delivery.peak_rss_mb,
        "duplicates": len(received) - len({r.message.get("Message-ID") for r in received}),
    }

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
same sink. The two overlap in the pipeline, so the floor is the slower of them.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from relay.bench import percentile, temporary_database
from relay.embedded import EmbeddedBroker, free_port
from relay.smtp_sink import start_sink
from relay.up import Child, Stack
from services.runtime.kafka import ensure_topics, security_options
from services.runtime.migrations import upgrade
from services.runtime.settings import SERVICES, RelaySettings, ServiceName

Progress = Callable[[str, int, int], None]

REF = re.compile(r"BENCH-\d{6}")
QUIET_S = 15.0  # no mail for this long (longer than a group rebalance): the run is over
CONCURRENT_POSTS = 8  # as fast as possible: this many requests in flight
SMTP_CONNECTIONS = 2  # the notifier's default pool (RELAY_SMTP_URL ?pool=)


@dataclass
class _BenchStack(Stack):
    """``relay up``'s services, with this run's own ports, topics and database."""

    env: dict[str, str] = field(default_factory=dict)

    def child_env(self, replay: bool) -> dict[str, str]:
        return {**super().child_env(replay), **self.env}


@dataclass
class RssPeaks:
    """The peak resident memory of each service's process, sampled every 0.2 s."""

    processes: dict[str, psutil.Process]
    peaks: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for name, process in self.processes.items():
                try:
                    rss = process.memory_info().rss
                except psutil.Error:
                    continue
                self.peaks[name] = max(self.peaks.get(name, 0), rss)

    @contextmanager
    def sampling(self) -> Iterator[None]:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join()


def _event(n: int, row: dict[str, str]) -> dict[str, Any]:
    child: dict[str, Any] = {
        "given_name": row["given_name"],
        "family_name": row["family_name"],
        "date_of_birth": row["date_of_birth"],
    }
    for column in ("postcode", "upn", "nhs_number"):
        if row.get(column):
            child[column] = row[column]
    return {
        "event_id": f"BENCH-EV-{n:06d}",
        "type": "reported",
        "occurred_at": datetime.now(UTC).isoformat(),
        "force_code": "10",
        "episode_ref": f"BENCH-{n:06d}",
        "child": child,
        "risk": {"grade": "medium"},
    }


def _events(area: Path, count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` events, each a different episode of a child on a school roll (the
    router finds the school, usually the GP practice, and tells the authority)."""
    with (area / "roll_schools.csv").open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if not r.get("to")]
    rng = random.Random(seed)
    return [_event(n, rng.choice(rows)) for n in range(1, count + 1)]


def _relay(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "relay", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"relay {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


async def _post(
    ingest: str, key: str, events: list[dict[str, Any]], rate: float | None, progress: Progress
) -> tuple[dict[str, float], float]:
    """Post every event; the time of each one's 202, by episode ref, and how long the
    posting took."""
    accepted: dict[str, float] = {}
    started = time.monotonic()
    limit = asyncio.Semaphore(CONCURRENT_POSTS if rate is None else 64)
    async with httpx.AsyncClient(
        base_url=ingest, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as client:

        async def one(n: int, event: dict[str, Any]) -> None:
            if rate is not None:
                await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            async with limit:
                while True:
                    answer = await client.post("/v1/episode-events", json=event)
                    if answer.status_code != 429 and answer.status_code != 503:
                        break
                    await asyncio.sleep(float(answer.headers.get("retry-after", "1")))
            if answer.status_code != 202:
                raise RuntimeError(f"event {event['event_id']}: HTTP {answer.status_code}")
            accepted[event["episode_ref"]] = time.time()
            progress("post", len(accepted), len(events))

        await asyncio.gather(*(one(n, e) for n, e in enumerate(events)))
    return accepted, time.monotonic() - started


def _wait_for_mail(
    received: list[Any], progress: Progress, expected_min: int, timeout_s: float
) -> None:
    """Until no mail has come for QUIET_S, once at least ``expected_min`` have."""
    deadline = time.monotonic() + timeout_s
    seen, last_change = 0, time.monotonic()
    while time.monotonic() < deadline:
        count = len(received)
        if count != seen:
            seen, last_change = count, time.monotonic()
            progress("deliver", count, max(count, expected_min))
        elif count >= expected_min and time.monotonic() - last_change > QUIET_S:
            return
        time.sleep(0.2)
    raise RuntimeError(f"only {len(received)} mails in {timeout_s:.0f} s")


async def _kafka_floor(settings: RelaySettings, count: int, size: int) -> float:
    """``count`` messages of ``size`` bytes through three hops, raw: the seconds from
    the first send to the last receipt."""
    prefix = f"bench-floor-{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}-{hop}" for hop in "abc"]
    servers = settings.bootstrap
    admin = AIOKafkaAdminClient(bootstrap_servers=servers, **security_options(settings))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, settings.partitions, 1) for n in names])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=servers,
        enable_idempotence=False,
        acks="all",
        linger_ms=5,
        **security_options(settings),
    )
    consumers = [
        AIOKafkaConsumer(
            name,
            bootstrap_servers=servers,
            group_id=f"{name}-group",
            auto_offset_reset="earliest",
            **security_options(settings),
        )
        for name in names
    ]
    await producer.start()
    for consumer in consumers:
        await consumer.start()
    payload = b"x" * size
    try:
        # The consumers have their partitions before the clock starts.
        for consumer in consumers:
            while not consumer.assignment():
                await consumer.getmany(timeout_ms=200)

        async def hop(source: AIOKafkaConsumer, target: str | None) -> None:
            moved = 0
            while moved < count:
                batches = await source.getmany(timeout_ms=500, max_records=1000)
                records = [r for rs in batches.values() for r in rs]
                if target is not None:
                    sent = [await producer.send(target, r.value, key=r.key) for r in records]
                    await asyncio.gather(*sent)
                if records:
                    await source.commit()
                moved += len(records)

        started = time.monotonic()
        hops = [
            asyncio.create_task(hop(consumers[0], names[1])),
            asyncio.create_task(hop(consumers[1], names[2])),
            asyncio.create_task(hop(consumers[2], None)),
        ]
        sends = [await producer.send(names[0], payload, key=str(n).encode()) for n in range(count)]
        await asyncio.gather(*sends)
        await asyncio.wait_for(asyncio.gather(*hops), timeout=600)
        return time.monotonic() - started
    finally:
        for consumer in consumers:
            await consumer.stop()
        await producer.stop()


async def _smtp_floor(port: int, count: int, sample: bytes) -> float:
    """``count`` emails like ``sample`` sent raw over SMTP_CONNECTIONS connections."""
    message = EmailMessage()
    message["From"] = "relay@bench.example"
    message["To"] = "floor@bench.example"
    message["Subject"] = "floor"
    message.set_content(sample.decode("utf-8", "replace"))

    async def connection(share: int) -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
        await smtp.connect()
        try:
            for _ in range(share):
                await smtp.send_message(message)
        finally:
            await smtp.quit()

    each, extra = divmod(count, SMTP_CONNECTIONS)
    shares = [each + (n < extra) for n in range(SMTP_CONNECTIONS)]
    started = time.monotonic()
    await asyncio.gather(*(connection(s) for s in shares if s))
    return time.monotonic() - started


def targets(figures: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The issue's targets, as far as this run can judge them."""
    rss = max(figures["peak_rss_mb"].values())
    out = {
        "ratio": {
            "pass": figures["ratio"] <= 2.0,
            "text": "pipeline <= 2x the floor",
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


def _add_copies(stack: Stack, env: dict[str, str], copies: int) -> None:
    """Start copies 2..N of router and notifier (``relay serve``, each on its own health
    port) as children of ``stack``, named ``router-2``, ``notifier-2`` and so on, and
    wait until each is healthy; ``stack.stop_services`` drains them with the others."""
    logs = stack.logs
    ports: dict[str, int] = {}
    scaled: tuple[ServiceName, ...] = ("router", "notifier")
    for n in range(2, copies + 1):
        for service in scaled:
            name, port = f"{service}-{n}", free_port()
            with open(logs / f"{name}.log", "ab") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "relay", "serve", service],
                    env={**env, f"RELAY_{service.upper()}_PORT": str(port)},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            stack.children[name] = Child(service, process)
            ports[name] = port
    deadline = time.monotonic() + 90
    for name, port in ports.items():
        while True:
            if stack.children[name].process.poll() is not None:
                raise RuntimeError(f"{name} exited while starting; see {logs / name}.log")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not become healthy on port {port}")
            time.sleep(0.3)


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
    settings = RelaySettings(
        kafka_bootstrap=bootstrap,
        database_url=url if kind == "postgresql" else None,
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",
        var_dir=folder / "var",
        embedded_kafka_port=free_port(),
        ingest_port=free_port(),
        console_port=free_port(),
        router_port=free_port(),
        notifier_port=free_port(),
        # A shared broker keeps other runs' messages: these topics are this run's own.
        topic_prefix=f"bench{uuid.uuid4().hex[:8]}." if bootstrap else "",
        ingest_rate_limit="100000/second",
    )
    stack = _BenchStack(settings)
    try:
        if bootstrap is None:
            broker = EmbeddedBroker(settings.embedded_kafka_port, folder / "broker.log")
            broker.start()
            settings = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap})
            stack.settings = settings
        settings.var_dir.mkdir(parents=True)
        stack.env = {
            "RELAY_TOPIC_PREFIX": settings.topic_prefix,
            "RELAY_INGEST_RATE_LIMIT": settings.ingest_rate_limit,
            **{
                f"RELAY_{name.upper()}_PORT": str(getattr(settings, f"{name}_port"))
                for name in SERVICES
            },
            **({"RELAY_DATABASE_URL": url} if kind == "postgresql" else {}),
        }
        env = stack.child_env(replay=False)
        area = folder / "area"
        progress("prepare", 0, 3)
        _relay(env, "demo-data", "--children", str(children), "--out", str(area))
        settings = settings.model_copy(update={"policy_file": area / "policy.toml"})
        stack.settings = settings
        env = stack.child_env(replay=False)
        for service in SERVICES:
            upgrade(service, settings.database_url_for(service))
        _relay(env, "directory", "import", "organisations", str(area / "organisations.csv"))
        _relay(env, "directory", "import", "roll", *map(str, sorted(area.glob("roll_*.csv"))))
        key = json.loads(
            _relay(env, "keys", "create", "--force-code", "10", "--name", "bench", "--json")
        )["key"]
        progress("prepare", 2, 3)
        asyncio.run(ensure_topics(settings))
        stack.start_services(replay=False)
        stack.wait_healthy()
        _add_copies(stack, env, copies)
        progress("prepare", 3, 3)
        batch = _events(area, count, seed)
        ingest = "http://{}:{}".format(*settings.listen("ingest"))
        processes = {s: psutil.Process(c.process.pid) for s, c in stack.children.items()}
        peaks = RssPeaks(processes)
        with peaks.sampling():
            started = time.time()
            accepted, posting_s = asyncio.run(_post(ingest, key, batch, rate, progress))
            _wait_for_mail(handler.received, progress, count, timeout_s=600 + count)
        received = list(handler.received)
        pipeline_s = max(r.at for r in received) - started
        stack.stopping.set()
        stack.stop_services()
        latencies = [
            (r.at - accepted[m.group()]) * 1000
            for r in received
            if (m := REF.search(r.message.get("Subject", ""))) and m.group() in accepted
        ]
        progress("floor", 0, 2)
        size = len(json.dumps(batch[0]).encode())
        kafka_s = asyncio.run(_kafka_floor(settings, count, size))
        progress("floor", 1, 2)
        handler.received.clear()
        smtp_s = asyncio.run(_smtp_floor(smtp_port, len(received), received[0].data))
        progress("floor", 2, 2)
        floor_s = max(kafka_s, smtp_s)
        return {
            "database": kind,
            "broker": "kafka" if bootstrap else "embedded",
            "events": count,
            "rate": rate,
            "alerts": len(received),
            "events_per_s": round(count / posting_s, 1),
            "alerts_per_s": round(len(received) / pipeline_s, 1),
            "latency_ms": {
                "p50": round(percentile(latencies, 0.50), 1),
                "p95": round(percentile(latencies, 0.95), 1),
                "p99": round(percentile(latencies, 0.99), 1),
                "max": round(max(latencies), 1),
            },
            "pipeline_s": round(pipeline_s, 3),
            "posting_s": round(posting_s, 2),
            "floor_s": round(floor_s, 3),
            "floor_kafka_s": round(kafka_s, 3),
            "floor_smtp_s": round(smtp_s, 3),
            "ratio": round(pipeline_s / floor_s, 2),
            "copies": copies,
            "peak_rss_mb": {s: round(peaks.peaks.get(s, 0) / 2**20, 1) for s in processes},
            "duplicates": len(received) - len({r.message.get("Message-ID") for r in received}),
        }
    finally:
        stack.stopping.set()
        stack.stop_services()
        sink.stop()
        if broker is not None:
            broker.stop()
        shutil.rmtree(folder / "var", ignore_errors=True)

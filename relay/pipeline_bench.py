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
time (``/proc``) from the first post to the last mail, over the mails.
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
from pathlib import Path
from typing import Any

import httpx
import psutil

from relay.bench_databases import temporary_database
from relay.bench_scoring import percentile
from relay.embedded import EmbeddedBroker, free_port
from relay.pipeline_floors import CONCURRENT_POSTS, kafka_floor, smtp_floor
from relay.smtp_sink import start_sink
from relay.up import Child, Stack
from services.runtime.kafka import ensure_topics
from services.runtime.migrations import upgrade
from services.runtime.settings import SERVICES, RelaySettings, ServiceName

Progress = Callable[[str, int, int], None]

REF = re.compile(r"BENCH-\d{6}")
QUIET_S = 15.0  # no mail for this long (longer than a group rebalance): the run is over
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class _BenchStack(Stack):
    """``relay up``'s services, with this run's own ports, topics and database."""

    env: dict[str, str] = field(default_factory=dict)

    def child_env(self, replay: bool) -> dict[str, str]:
        return {**super().child_env(replay), **self.env}


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process so far, from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        text = stat.read()
    # The command name may hold spaces and parentheses: count fields after its last ")".
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15)


@dataclass
class RssPeaks:
    """The peak resident memory of each service's process, and its CPU so far, sampled
    every 0.2 s."""

    processes: dict[str, psutil.Process]
    peaks: dict[str, int] = field(default_factory=dict)
    cpu: list[tuple[float, dict[str, float]]] = field(default_factory=list)  # (time, s)
    _stop: threading.Event = field(default_factory=threading.Event)

    def cpu_now(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, process in self.processes.items():
            try:
                out[name] = cpu_seconds(process.pid)
            except OSError:  # it has exited: its last sample stands
                continue
        return out

    def cpu_until(self, moment: float) -> dict[str, float]:
        """CPU of each process at the first sample taken at or after ``moment``."""
        for at, seconds in self.cpu:
            if at >= moment:
                return seconds
        return self.cpu_now()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for name, process in self.processes.items():
                try:
                    rss = process.memory_info().rss
                except psutil.Error:
                    continue
                self.peaks[name] = max(self.peaks.get(name, 0), rss)
            self.cpu.append((time.time(), self.cpu_now()))

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
            cpu_before = peaks.cpu_now()
            started = time.time()
            accepted, posting_s = asyncio.run(_post(ingest, key, batch, rate, progress))
            _wait_for_mail(handler.received, progress, count, timeout_s=600 + count)
        received = list(handler.received)
        last_mail = max(r.at for r in received)
        pipeline_s = last_mail - started
        # From the first post to the last mail: the quiet wait after it is not the run's.
        cpu_after = peaks.cpu_until(last_mail)
        stack.stopping.set()
        stack.stop_services()
        latencies = [
            (r.at - accepted[m.group()]) * 1000
            for r in received
            if (m := REF.search(r.message.get("Subject", ""))) and m.group() in accepted
        ]
        progress("floor", 0, 4)
        size = len(json.dumps(batch[0]).encode())
        kafka_s = asyncio.run(kafka_floor(settings, count, size))
        progress("floor", 1, 4)
        handler.received.clear()
        smtp_s = asyncio.run(smtp_floor(smtp_port, len(received), received[0].data))
        progress("floor", 2, 4)
        floor_s = max(kafka_s, smtp_s)
        journals = folder / "durable-floor"
        journals.mkdir()
        durable_kafka_s = asyncio.run(kafka_floor(settings, count, size, journals))
        progress("floor", 3, 4)
        handler.received.clear()
        durable_smtp_s = asyncio.run(
            smtp_floor(smtp_port, len(received), received[0].data, journals / "smtp.db")
        )
        progress("floor", 4, 4)
        durable_floor_s = max(durable_kafka_s, durable_smtp_s)
        cpu_ms = {
            name: round((cpu_after.get(name, 0.0) - cpu_before.get(name, 0.0)) * 1000, 1)
            for name in processes
        }
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
            "durable_floor_s": round(durable_floor_s, 3),
            "durable_floor_kafka_s": round(durable_kafka_s, 3),
            "durable_floor_smtp_s": round(durable_smtp_s, 3),
            "ratio_durable": round(pipeline_s / durable_floor_s, 2),
            "cpu_ms_per_alert": {
                **{name: round(ms / len(received), 2) for name, ms in cpu_ms.items()},
                "total": round(sum(cpu_ms.values()) / len(received), 2),
            },
            "cpu_s": {name: round(ms / 1000, 2) for name, ms in cpu_ms.items()},
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

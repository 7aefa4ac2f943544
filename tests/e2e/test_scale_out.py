"""Scale-out (DESIGN §3): two copies each of the router and the notifier share their
consumer groups over topics of six partitions. In the middle of a stream of events one
router copy is SIGKILLed, and one notifier copy while it hands an email to the SMTP
server; the survivors take over their partitions and their claimed alerts, and the
killed notifier is started again while the other is sending. Every event is routed
once, every alert is sent once, nothing is lost (DESIGN §2)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from relay.embedded import free_port
from relay.smtp_sink import SinkHandler
from schemas.catalogue import ALERTS_REQUESTED, EPISODE_EVENTS
from services.notifier.smtp import parse_smtp_url
from services.notifier.tables import alerts, attempts
from services.notifier.tables import messaging as notifier_messaging
from services.router.tables import messaging as router_messaging
from services.runtime.database import Database
from services.runtime.kafka import security_options, wire_names
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings, ServiceName
from tests.conftest import SessionKafka, eventually

pytestmark = pytest.mark.e2e

PARTITIONS = 6
EVENTS = 300
BATCH = 10
ALERTS_PER_EVENT = 3  # school, GP practice, local authority
EXPECTED = EVENTS * ALERTS_PER_EVENT
# How long a notifier's claim on an alert it is sending holds without renewal: short
# here, so that the survivor takes over the killed copy's claims within the test, but
# well above the stalls of a loaded two-core machine.
SENDING_LEASE_S = 10
# The mailbox takes this long per message, so a notifier always has a batch in flight.
MAILBOX_DELAY_S = 0.015
MESSAGE_ID = "<{}@missing-episode-relay>"

GIVEN = [
    "Amelia", "Oliver", "Isla", "Noah", "Ava", "Leo", "Freya", "Arthur", "Mia", "Harry",
    "Ivy", "Theo", "Grace", "Jack", "Lily", "Oscar", "Ella", "George", "Rosie", "Alfie",
    "Sophie", "Finley", "Evie", "Jacob", "Poppy", "Archie", "Daisy", "Logan", "Ruby", "Ethan",
]  # fmt: skip
FAMILY = [
    "Hart", "Reed", "Dixon", "Shaw", "Fenwick", "Armstrong", "Robson", "Charlton",
    "Milburn", "Elliott", "Ridley", "Hetherington", "Forster", "Errington", "Coulson",
]  # fmt: skip


def child(i: int) -> dict[str, str]:
    """The i-th child: a distinct name (for i < 450) and date of birth, so that each
    matches its own roll records and nobody else's."""
    return {
        "given_name": GIVEN[i % len(GIVEN)],
        "family_name": FAMILY[(i + i // len(GIVEN)) % len(FAMILY)],
        "date_of_birth": (date(2010, 1, 4) + timedelta(days=7 * i)).isoformat(),
    }


def directory(folder: Path) -> tuple[Path, Path]:
    organisations = folder / "organisations.csv"
    organisations.write_text(
        "code,kind,name,email,escalation_email,phone,la_code\n"
        "100001,school,Ashington Academy,dsl@ashington.example.org,,,E06000057\n"
        "A81001,gp-practice,Wansbeck Surgery,gp@wansbeck.example.org,,,E06000057\n"
        "E06000057,local-authority,Northumberland,missing@northumberland.example.org,,,"
        "E06000057\n"
    )
    roll = folder / "roll.csv"
    rows = ["org_code,record_id,given_name,family_name,date_of_birth"]
    for i in range(EVENTS):
        c = child(i)
        for org in ("100001", "A81001"):
            rows.append(
                f"{org},{org}-{i},{c['given_name']},{c['family_name']},{c['date_of_birth']}"
            )
    roll.write_text("\n".join(rows) + "\n")
    return organisations, roll


def event(i: int) -> dict[str, Any]:
    return {
        "event_id": f"scale-{i}",
        "type": "reported",
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "force_code": "10",
        "episode_ref": f"10-SO-{i}",
        "child": child(i),
        "risk": {"grade": "medium"},
    }


@dataclass
class Mailbox(SinkHandler):
    """The SMTP sink, slowed down, with two switches for the test: ``victim`` (a pid)
    is SIGKILLed as soon as it has handed over a message, before it hears the reply;
    ``holding`` keeps incoming messages waiting at DATA (an alert stays ``sending``)."""

    delay_s: float = MAILBOX_DELAY_S
    victim: int | None = None
    killed_message_id: str | None = None
    killed: threading.Event = field(default_factory=threading.Event)
    holding: threading.Event = field(default_factory=threading.Event)
    held: list[str] = field(default_factory=list)  # Message-IDs of the held messages

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay_s)
        if self.holding.is_set():
            data = envelope.original_content or envelope.content
            self.held.append(str(message_from_bytes(data)["Message-ID"]))
            for _ in range(300):  # at most 15 s: well inside the notifier's SMTP timeout
                if not self.holding.is_set():
                    break
                await asyncio.sleep(0.05)
        reply = await super().handle_DATA(server, session, envelope)
        victim = self.victim
        if victim is not None and session.peer[1] in _local_ports(victim):
            self.victim = None
            self.killed_message_id = self.received[-1].message["Message-ID"]
            os.kill(victim, signal.SIGKILL)
            self.killed.set()
        return reply


def _local_ports(pid: int) -> set[int]:
    try:
        return {c.laddr.port for c in psutil.Process(pid).net_connections(kind="tcp")}
    except psutil.Error:
        return set()


@pytest.fixture
def mailbox() -> Iterator[tuple[str, Mailbox]]:
    port = free_port()
    handler = Mailbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", handler
    finally:
        controller.stop()


@pytest.fixture
def database_urls(database_url: Callable[[str], str]) -> dict[str, str]:
    # Outside the event loop: on PostgreSQL the fixture creates the databases itself.
    return {f"{s}_database_url": database_url(s) for s in ("ingest", "router", "notifier")}


@dataclass
class Copy:
    """One OS process of one service (``relay serve``), with its own HTTP port."""

    service: str
    name: str
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**self.env, f"RELAY_{self.service.upper()}_PORT": str(self.port)}
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "relay", "serve", self.service],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def healthy(self) -> bool:
        assert self.process is not None
        assert self.process.poll() is None, f"{self.name} exited: {self.log.read_text()[-3000:]}"
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{self.url}/healthz", timeout=2)).status_code == 200
        except httpx.HTTPError:
            return False

    async def processed(self) -> int:
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"{self.url}/metrics", timeout=5)).text
        for line in text.splitlines():
            if line.startswith("relay_messages_processed_total"):
                return int(float(line.rsplit(" ", 1)[1]))
        raise AssertionError(f"{self.name}: no processed count in /metrics")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def dead(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def relay(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "relay", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"relay {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout


async def partitions_of(settings: RelaySettings) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap, **security_options(settings))
    await admin.start()
    try:
        described = await admin.describe_topics(wire_names(settings))
    finally:
        await admin.close()
    return {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}


def members(settings: RelaySettings, service: str, count: int) -> Callable[[], Any]:
    """A check: the service's consumer group has ``count`` members."""

    async def check() -> bool:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.bootstrap, **security_options(settings)
        )
        await admin.start()
        try:
            group = f"{settings.topic_prefix}relay-{service}"
            described = await admin.describe_consumer_groups([group])
        finally:
            await admin.close()
        return sum(len(g[5]) for response in described for g in response.groups) == count

    return check


async def post_events(ingest: str, key: str, numbers: range, accepted: list[str]) -> None:
    """The police feed: events in batches of BATCH, paced so that the stream is still
    running while copies die."""
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as client:
        for start in numbers[::BATCH]:
            batch = [event(i) for i in range(start, start + BATCH)]
            answer = await client.post(f"{ingest}/v1/episode-events:batch", json=batch, timeout=60)
            assert answer.status_code == 200, answer.text
            results = answer.json()["results"]
            assert [r["status"] for r in results] == ["accepted"] * BATCH, results
            accepted += [r["event_id"] for r in results]
            await asyncio.sleep(0.4)


async def notifier_rows(db: Database) -> tuple[dict[str, str], list[Any]]:
    async with db.transaction() as session:
        states = dict((await session.execute(select(alerts.c.alert_id, alerts.c.state))).all())
        tried = list((await session.execute(select(attempts))).all())
    return states, tried


async def test_two_copies_each_share_six_partitions_and_survive_a_sigkill(
    kafka: SessionKafka,
    database_urls: dict[str, str],
    mailbox: tuple[str, Mailbox],
    tmp_path: Path,
) -> None:
    smtp_url, sink = mailbox
    settings = RelaySettings(
        kafka_bootstrap=kafka.bootstrap,
        kafka_session_timeout_ms=kafka.session_timeout_ms,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        partitions=PARTITIONS,
        var_dir=tmp_path / "var",
        **database_urls,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env.update(
        RELAY_KAFKA_BOOTSTRAP=settings.bootstrap,
        RELAY_KAFKA_SESSION_TIMEOUT_MS=str(settings.kafka_session_timeout_ms),
        RELAY_TOPIC_PREFIX=settings.topic_prefix,
        RELAY_PARTITIONS=str(PARTITIONS),
        RELAY_INGEST_DATABASE_URL=settings.database_url_for("ingest"),
        RELAY_ROUTER_DATABASE_URL=settings.database_url_for("router"),
        RELAY_NOTIFIER_DATABASE_URL=settings.database_url_for("notifier"),
        RELAY_SMTP_URL=smtp_url,
        RELAY_VAR_DIR=str(settings.var_dir),
        RELAY_SECRET_KEY=uuid.uuid4().hex,  # one key for both notifiers' links
        RELAY_POLL_INTERVAL_S="0.1",
        RELAY_NOTIFIER_SENDING_LEASE_S=str(SENDING_LEASE_S),
        PYTHONUNBUFFERED="1",
    )
    services: tuple[ServiceName, ...] = ("ingest", "router", "notifier")
    for service in services:
        await asyncio.to_thread(upgrade, service, settings.database_url_for(service))
    organisations, roll = directory(tmp_path)
    await asyncio.to_thread(relay, env, "directory", "import", "organisations", str(organisations))
    await asyncio.to_thread(relay, env, "directory", "import", "roll", str(roll))
    created = await asyncio.to_thread(
        relay, env, "keys", "create", "--force-code", "10", "--name", "scale", "--json"
    )
    key = str(json.loads(created)["key"])

    logs = tmp_path / "logs"
    logs.mkdir()
    ingest = Copy("ingest", "ingest", env, logs / "ingest.log")
    routers = [Copy("router", f"router-{n}", env, logs / f"router-{n}.log") for n in "ab"]
    notifiers = [Copy("notifier", f"notifier-{n}", env, logs / f"notifier-{n}.log") for n in "ab"]
    copies = [ingest, *routers, *notifiers]
    router_db = Database(settings.database_url_for("router"))
    notifier_db = Database(settings.database_url_for("notifier"))
    feeds: list[asyncio.Task[None]] = []
    accepted: list[str] = []
    began = asyncio.get_running_loop().time()

    def mark(what: str) -> None:  # the timeline, shown when the test fails
        print(f"{asyncio.get_running_loop().time() - began:6.1f}s {what}")

    try:
        for copy in copies:
            copy.start()

        async def all_healthy() -> bool:
            return all([await c.healthy() for c in copies])

        await eventually(all_healthy, 120, 0.3)
        topics = await partitions_of(settings)
        assert sorted(topics) == sorted(wire_names(settings))
        assert set(topics.values()) == {PARTITIONS}, topics
        # Both copies of each service are members of its group before the feed starts.
        for service in ("router", "notifier"):
            await eventually(members(settings, service, 2), 60, 0.5)
        mark("all copies up, two members in each group")

        first = range(0, EVENTS - EVENTS // 3)
        feeds.append(asyncio.create_task(post_events(ingest.url, key, first, accepted)))

        # Both router copies route (their partitions' share); then one dies mid-stream.
        async def both_routing() -> bool:
            return len(accepted) >= EVENTS // 3 and all([await r.processed() > 0 for r in routers])

        await eventually(both_routing, 60, 0.2)
        routers[0].kill()
        mark(f"router-a killed; {len(accepted)} events accepted")

        # Both notifier copies take alert requests; one dies while sending an email.
        async def both_notifying() -> bool:
            return len(sink.received) >= EXPECTED // 4 and all(
                [await n.processed() > 0 for n in notifiers]
            )

        await eventually(both_notifying, 90, 0.2)
        sink.victim = notifiers[0].pid
        await eventually(sink.killed.is_set, 30, 0.05)
        await eventually(notifiers[0].dead, 10, 0.05)
        killed_alert = str(sink.killed_message_id).strip("<>").split("@")[0]
        mark(f"notifier-a killed sending; {len(sink.received)} emails, {len(accepted)} events")

        # The survivors take over the dead copies' partitions ...
        for service in ("router", "notifier"):
            await eventually(members(settings, service, 1), 60, 0.5)
        mark("one member left in each group")

        # ... and the alerts the dead notifier had claimed (it died while sending them).
        async def claims_taken_over() -> bool:
            states, tried = await notifier_rows(notifier_db)
            return (
                any(a.alert_id == killed_alert and a.outcome == "interrupted" for a in tried)
                and states.get(killed_alert) == "sent"
            )

        await eventually(claims_taken_over, 60, 0.3)
        mark("the dead notifier's claims taken over")

        # The dead notifier comes back while its twin is in the middle of sending (the
        # rest of the feed, held at the mailbox): it must not take the alerts its twin is
        # sending for interrupted ones.
        sink.holding.set()
        try:
            rest = range(first.stop, EVENTS)
            feeds.append(asyncio.create_task(post_events(ingest.url, key, rest, accepted)))
            await eventually(lambda: sink.held, 30, 0.05)
            restarted = Copy("notifier", "notifier-a2", env, logs / "notifier-a2.log")
            copies.append(restarted)
            restarted.start()
            await eventually(restarted.healthy, 60, 0.2)
            # Its delivery loop has made its start-up sweep over ``sending`` alerts.
            await eventually(lambda: "notifier: delivering" in restarted.log.read_text(), 30)
            await eventually(members(settings, "notifier", 2), 30, 0.3)
            mark(f"notifier-a restarted and in its group again; {len(sink.held)} emails held")
        finally:
            sink.holding.clear()

        await asyncio.wait_for(asyncio.gather(*feeds), 120)
        assert sorted(accepted) == sorted(f"scale-{i}" for i in range(EVENTS))

        # Everything went out once; the notifier's records agree (nothing left to send,
        # so no late duplicate can follow).
        def message_ids() -> Counter[str]:
            return Counter(str(m.message["Message-ID"]) for m in sink.received)

        await eventually(lambda: len(message_ids()) >= EXPECTED, 120, 0.3)

        async def all_sent() -> bool:
            states, tried = await notifier_rows(notifier_db)
            return (
                len(states) == EXPECTED
                and set(states.values()) == {"sent"}
                and all(a.finished_at is not None for a in tried)
            )

        await eventually(all_sent, 60, 0.3)
        mark("every alert sent")
    finally:
        for feed in feeds:
            feed.cancel()
        for copy in copies:
            copy.stop()

    try:
        async with router_db.transaction() as session:
            inbox = (
                await session.execute(
                    select(func.count())
                    .select_from(router_messaging.inbox)
                    .where(router_messaging.inbox.c.topic == EPISODE_EVENTS.wire)
                )
            ).scalar_one()
            requested = (
                await session.execute(
                    select(
                        router_messaging.outbox.c.key, router_messaging.outbox.c.message_id
                    ).where(
                        router_messaging.outbox.c.topic == settings.topic(ALERTS_REQUESTED.wire)
                    )
                )
            ).all()
        async with notifier_db.transaction() as session:
            notifier_inbox = (
                await session.execute(
                    select(func.count())
                    .select_from(notifier_messaging.inbox)
                    .where(notifier_messaging.inbox.c.topic == ALERTS_REQUESTED.wire)
                )
            ).scalar_one()
        states, tried = await notifier_rows(notifier_db)
    finally:
        await router_db.dispose()
        await notifier_db.dispose()

    # The router handled every event once and requested each alert once.
    assert inbox == EVENTS
    assert len(requested) == EXPECTED
    assert len({m for _, m in requested}) == EXPECTED, "an alert requested twice"
    assert Counter(Counter(k for k, _ in requested).values()) == {ALERTS_PER_EVENT: EVENTS}
    # The notifier stored each requested alert once and sent every one.
    assert notifier_inbox == EXPECTED
    assert set(states) == {m for _, m in requested}
    assert set(states.values()) == {"sent"}
    sent = Counter(a.alert_id for a in tried if a.outcome == "sent")
    assert set(sent.values()) == {1}, "an alert sent (and recorded) twice"
    interrupted = {a.alert_id for a in tried if a.outcome == "interrupted"}
    assert killed_alert in interrupted
    # The dead copy's claims (one batch, renewed together) had all been taken over before
    # it started again, and its twin renews its own: the restarted copy found nothing to
    # take over. (Had it taken its twin's alerts, both might have sent them.)
    took_over = [line for line in restarted.log.read_text().splitlines() if "queued again" in line]
    assert took_over == []

    # Every alert reached the mailbox once: all but the email the mailbox took as the
    # notifier died, before it could hear the reply or record it, and at most one more
    # on each other connection of the dead copy's pool (each connection records its
    # email before it sends the next). SMTP has no transactions, so those went again;
    # their attempts say so, and they kept their Message-IDs, so a mailbox folds them.
    counts = Counter(str(m.message["Message-ID"]) for m in sink.received)
    assert set(counts) == {MESSAGE_ID.format(a) for a in states}, "an alert was lost"
    twice = {m: n for m, n in counts.items() if n > 1}
    assert MESSAGE_ID.format(killed_alert) in twice, twice
    assert set(twice.values()) == {2}, twice
    assert len(twice) <= parse_smtp_url(smtp_url).pool, twice
    assert set(twice) <= {MESSAGE_ID.format(a) for a in interrupted}, twice

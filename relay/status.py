"""What an operator needs to know about a running relay (issue 23, ``relay status``):
each service up or not, how far each consumer is behind on each topic, what each
service still has to publish, dead letters waiting, the oldest alert not yet sent, and
how old the directory is. Read from the services' health endpoints, the broker and the
services' databases, never changed. :func:`problems` says what needs a person.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import MetaData, func, select
from sqlalchemy.engine import make_url

from schemas.catalogue import TOPICS
from schemas.messages import AlertState
from services.notifier.tables import alerts
from services.router.tables import organisations
from services.runtime.dead_letters import list_letters
from services.runtime.kafka import security_options
from services.runtime.messaging import messaging_tables
from services.runtime.one_off import one_off_database
from services.runtime.settings import SERVICES, RelaySettings, ServiceName

# When a figure needs a person (``relay status`` exits 1); monitoring can apply its own
# from ``--json``. See docs/operations.md.
LAG_LIMIT = 1000  # messages a consumer group is behind on one topic
OUTBOX_AGE_LIMIT = timedelta(minutes=5)  # a message waiting this long to be published
UNSENT_ALERT_LIMIT = timedelta(minutes=15)  # an alert not handed to SMTP after this long
DIRECTORY_AGE_LIMIT = timedelta(days=8)  # a weekly import missed
UNSENT_STATES = (AlertState.QUEUED, AlertState.SENDING, AlertState.TEMPORARY_FAILURE)
TIMEOUT_S = 5.0
T = TypeVar("T")


@dataclass(frozen=True)
class ServiceHealth:
    url: str
    up: bool
    status: str  # "ok", "starting", "database unavailable", "HTTP 500", "unreachable"


@dataclass(frozen=True)
class Backlog:
    messages: int
    oldest: datetime | None


@dataclass
class Status:
    at: datetime
    services: dict[str, ServiceHealth] = field(default_factory=dict)
    # consumer service -> topic -> messages not yet consumed (None: not known)
    lag: dict[str, dict[str, int | None]] = field(default_factory=dict)
    outbox: dict[str, Backlog | None] = field(default_factory=dict)  # None: not readable
    dead_letters: dict[str, int] | None = None  # topic -> letters waiting
    oldest_unsent_alert: datetime | None = None
    unsent_alerts: int | None = None
    directory_imported: datetime | None = None
    unreadable: list[str] = field(default_factory=list)  # what could not be read, and why

    def age(self, moment: datetime | None) -> timedelta | None:
        return None if moment is None else self.at - moment


def health_url(settings: RelaySettings, service: ServiceName, given: dict[str, str]) -> str:
    if service in given:
        return given[service].rstrip("/") + "/healthz"
    host, port = settings.listen(service)
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # a bind-all address
    return f"http://{host}:{port}/healthz"


async def _health(client: httpx.AsyncClient, url: str) -> ServiceHealth:
    try:
        answer = await client.get(url)
    except httpx.HTTPError:
        return ServiceHealth(url, False, "unreachable")
    try:
        status = str(answer.json().get("status", f"HTTP {answer.status_code}"))
    except ValueError:
        status = f"HTTP {answer.status_code}"
    return ServiceHealth(url, answer.status_code == 200, status)


async def _lag(settings: RelaySettings) -> dict[str, dict[str, int | None]]:
    """Per consumer service and topic: end offsets less the group's committed ones (a
    partition with no commit counts from its start). Each group's offsets are read by a
    consumer of that group that subscribes to nothing: it joins no group, commits
    nothing (and works on brokers whose admin API is partial, such as Tansu)."""
    lag: dict[str, dict[str, int | None]] = {}
    for service in SERVICES:
        reader = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap,
            group_id=f"{settings.topic_prefix}relay-{service}",
            enable_auto_commit=False,
            client_id="relay-status",
            **security_options(settings),
        )
        await reader.start()
        try:
            existing = await reader.topics()
            for topic in TOPICS:
                if service not in topic.consumers:
                    continue
                name = settings.topic(topic.wire)
                ids = reader.partitions_for_topic(name) if name in existing else None
                if not ids:
                    lag.setdefault(service, {})[topic.wire] = None
                    continue
                parts = [TopicPartition(name, p) for p in sorted(ids)]
                ends = await reader.end_offsets(parts)
                starts = await reader.beginning_offsets(parts)
                behind = 0
                for tp in parts:
                    done = await reader.committed(tp)
                    behind += max(0, ends[tp] - (starts[tp] if done is None else done))
                lag.setdefault(service, {})[topic.wire] = behind
        finally:
            await reader.stop()
    return lag


def _database_url(settings: RelaySettings, service: ServiceName) -> str:
    """The service's database URL; an SQLite file that is not there is not made."""
    url = make_url(settings.database_url_for(service))
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        raise FileNotFoundError(f"no database at {url.database}")
    return url.render_as_string(hide_password=False)


async def _outbox(settings: RelaySettings, service: ServiceName) -> Backlog:
    outbox = messaging_tables(MetaData(), service).outbox
    async with (
        one_off_database(_database_url(settings, service)) as db,
        db.transaction() as session,
    ):
        count, oldest = (
            await session.execute(
                select(func.count(), func.min(outbox.c.created_at)).where(
                    outbox.c.published_at.is_(None)
                )
            )
        ).one()
    return Backlog(int(count), oldest)


async def _notifier(settings: RelaySettings) -> tuple[int, datetime | None]:
    async with (
        one_off_database(_database_url(settings, "notifier")) as db,
        db.transaction() as session,
    ):
        count, oldest = (
            await session.execute(
                select(func.count(), func.min(alerts.c.created_at)).where(
                    alerts.c.state.in_([s.value for s in UNSENT_STATES])
                )
            )
        ).one()
    return int(count), oldest


async def _directory(settings: RelaySettings) -> datetime | None:
    async with (
        one_off_database(_database_url(settings, "router")) as db,
        db.transaction() as session,
    ):
        # Every organisations import stamps every organisation it holds.
        latest: datetime | None = await session.scalar(select(func.max(organisations.c.updated_at)))
        return latest


async def gather(
    settings: RelaySettings, now: datetime, urls: dict[str, str] | None = None
) -> Status:
    status = Status(now)
    async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
        checks = {s: health_url(settings, s, urls or {}) for s in SERVICES}
        found = await asyncio.gather(*(_health(client, url) for url in checks.values()))
        status.services = dict(zip(checks, found, strict=True))

    async def read(what: str, work: Awaitable[T]) -> T | None:
        try:
            return await asyncio.wait_for(work, TIMEOUT_S * 2)
        except Exception as exc:  # one figure missing must not hide the others
            status.unreadable.append(f"{what}: {type(exc).__name__} {exc}".strip())
            return None

    status.lag = await read("consumer lag (broker)", _lag(settings)) or {}
    letters = await read("dead letters (broker)", list_letters(settings))
    if letters is not None:
        status.dead_letters = {}
        for letter in letters:
            status.dead_letters[letter.topic] = status.dead_letters.get(letter.topic, 0) + 1
    for service in SERVICES:
        status.outbox[service] = await read(
            f"{service} outbox (database)", _outbox(settings, service)
        )
    unsent = await read("unsent alerts (notifier database)", _notifier(settings))
    if unsent is not None:
        status.unsent_alerts, status.oldest_unsent_alert = unsent
    status.directory_imported = await read("directory (router database)", _directory(settings))
    return status


def problems(status: Status) -> list[str]:
    """What needs a person, in words; empty when all is well."""
    found: list[str] = []
    for service, health in status.services.items():
        if not health.up:
            found.append(f"{service} is not up ({health.status}) at {health.url}")
    for service, topics in status.lag.items():
        for topic, behind in topics.items():
            if behind is not None and behind > LAG_LIMIT:
                found.append(f"{service} is {behind} messages behind on {topic}")
    for service, backlog in status.outbox.items():
        age = status.age(backlog.oldest) if backlog else None
        if backlog and age is not None and age > OUTBOX_AGE_LIMIT:
            found.append(
                f"{service} has {backlog.messages} message(s) unpublished, the oldest for "
                f"{words(age)}: is the broker reachable?"
            )
    if status.dead_letters:
        total = sum(status.dead_letters.values())
        found.append(f"{total} dead letter(s) waiting: `relay dlq list`, then `relay dlq retry`")
    unsent = status.age(status.oldest_unsent_alert)
    if unsent is not None and unsent > UNSENT_ALERT_LIMIT:
        found.append(
            f"an alert has waited {words(unsent)} to be sent ({status.unsent_alerts} unsent): "
            "is the SMTP relay answering? (`relay alerts list --state temporary-failure`)"
        )
    imported = status.age(status.directory_imported)
    if imported is None and not any("directory" in u for u in status.unreadable):
        found.append("no directory imported yet: `relay directory import organisations`")
    elif imported is not None and imported > DIRECTORY_AGE_LIMIT:
        found.append(f"the directory was last imported {words(imported)} ago: is the job running?")
    found += [f"could not read {u}" for u in status.unreadable]
    return found


def words(age: timedelta) -> str:
    """An age as people say it: 90 s, 12 min, 5 h, 9 days."""
    seconds = int(age.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 3 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"

"""The life of one service process: start the broker and background loops in the app's
lifespan, and drain on the way out (in-flight messages finish, the outbox empties)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from fastapi import Response
from faststream.kafka import KafkaBroker
from sqlalchemy import MetaData, func, select, text

from services.runtime.broker_epoch import BrokerWatch, Republish
from services.runtime.consumer import Consumers
from services.runtime.database import Database
from services.runtime.kafka import BrokerPublisher, create_broker, ensure_topics
from services.runtime.messaging import MessagingTables, OutboxRelay, messaging_tables
from services.runtime.settings import RelaySettings, ServiceName

log = logging.getLogger(__name__)

Loop = Callable[[], Awaitable[None]]

# How long a stopping service waits for a cancelled background loop to end. A loop that
# does not (one seen in tests: waiting inside a Kafka client's close) is logged and left,
# so that SIGTERM still ends the process instead of hanging it.
LOOP_STOP_TIMEOUT_S = 10.0


@dataclass
class ServiceRuntime:
    """Everything one service process holds: database, broker, outbox relay, consumers,
    and its background loops (schedulers)."""

    name: ServiceName
    settings: RelaySettings
    db: Database
    broker: KafkaBroker
    tables: MessagingTables
    relay: OutboxRelay
    consumers: Consumers
    loops: list[Loop] = field(default_factory=list)
    # Called with a time when the broker lost its data: republish what went out since.
    on_broker_lost: list[Republish] = field(default_factory=list)
    watch: BrokerWatch | None = None
    gauges: dict[str, Callable[[], Awaitable[float]]] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _relay_task: asyncio.Task[None] | None = None
    started: bool = False

    @classmethod
    def build(
        cls,
        name: ServiceName,
        settings: RelaySettings,
        metadata: MetaData,
        db: Database | None = None,
        broker: KafkaBroker | None = None,
    ) -> ServiceRuntime:
        db = db or Database(settings.database_url_for(name))
        broker = broker or create_broker(settings, client_id=f"relay-{name}")
        tables = (
            messaging_tables(metadata, name)
            if f"{name}_inbox" not in metadata.tables
            else MessagingTables(
                metadata.tables[f"{name}_inbox"], metadata.tables[f"{name}_outbox"]
            )
        )
        relay = OutboxRelay(db, tables, BrokerPublisher(broker), settings.poll_interval_s)
        consumers = Consumers(name, broker, db, tables, relay, settings)
        return cls(name, settings, db, broker, tables, relay, consumers)

    async def start(self) -> None:
        await ensure_topics(self.settings)
        self.consumers.attach()
        await self.broker.start()
        if self.settings.replay_on_start:
            count = await self.relay.replay()
            log.info("%s: replaying %d outbox messages to a fresh broker", self.name, count)
        # The epoch is known before this service publishes anything to this broker, so a
        # loss later republishes everything that went out.
        self.watch = BrokerWatch(
            self.name, self.settings, [self.relay.republish_since, *self.on_broker_lost]
        )
        try:
            await self.watch.check()
        except Exception as exc:  # the loop below keeps trying
            log.warning("%s: broker epoch not read at start (%s)", self.name, type(exc).__name__)
        self._relay_task = asyncio.create_task(self.relay.run(), name=f"{self.name}-outbox")
        named: list[tuple[str, Loop]] = [("broker-watch", self.watch.run)]
        named += [(str(getattr(loop, "__name__", "loop")), loop) for loop in self.loops]
        for loop_name, loop in named:
            task = asyncio.create_task(_forever(self.name, loop), name=f"{self.name}-{loop_name}")
            self._tasks.append(task)
        self.started = True
        log.info("%s: started", self.name)

    async def stop(self) -> None:
        log.info("%s: draining", self.name)
        # Stop consuming first (in-flight handlers finish, up to graceful_timeout), then the
        # schedulers, then empty the outbox while the producer still runs, then close.
        for subscriber in self.broker.subscribers:
            await subscriber.stop()
        await stop_loops(self.name, self._tasks, LOOP_STOP_TIMEOUT_S)
        self._tasks.clear()
        if self._relay_task is not None:
            await stop_loops(self.name, [self._relay_task], LOOP_STOP_TIMEOUT_S)
            self._relay_task = None
            try:
                await asyncio.wait_for(self.relay.publish_pending(), timeout=10)
            except Exception as exc:  # kept in the outbox: it goes out at the next start
                log.warning("%s: outbox not emptied at stop (%s)", self.name, type(exc).__name__)
        await self.broker.stop()
        await self.db.dispose()
        self.started = False
        log.info("%s: stopped", self.name)

    async def _outbox_pending(self) -> int | str:
        """Messages written but not yet on the broker: rising means the broker is away.
        ``NaN`` (Prometheus's "no value") when the database cannot say."""
        outbox = self.tables.outbox
        try:
            async with self.db.transaction() as session:
                count = await session.scalar(
                    select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
                )
        except Exception:
            return "NaN"
        return int(count or 0)

    async def healthz(self) -> Response:
        """``/healthz``: 200 once started with the database answering, else 503."""
        try:
            async with self.db.transaction() as session:
                await session.execute(text("SELECT 1"))
        except Exception:
            return Response(
                '{"status": "database unavailable"}', 503, media_type="application/json"
            )
        status = "ok" if self.started else "starting"
        return Response(
            f'{{"status": "{status}"}}',
            200 if self.started else 503,
            media_type="application/json",
        )

    async def metrics(self) -> Response:
        """``/metrics``, in Prometheus's text format."""
        c = self.consumers.counters
        lines = [
            f'relay_outbox_pending{{service="{self.name}"}} {await self._outbox_pending()}',
            f'relay_messages_processed_total{{service="{self.name}"}} {c.processed}',
            f'relay_messages_duplicate_total{{service="{self.name}"}} {c.duplicates}',
            f'relay_messages_dead_lettered_total{{service="{self.name}"}} {c.dead_lettered}',
            f'relay_messages_retried_total{{service="{self.name}"}} {c.retried}',
            f'relay_outbox_published_total{{service="{self.name}"}} {self.relay.published}',
        ]
        for name, gauge in self.gauges.items():
            with contextlib.suppress(Exception):
                lines.append(f'relay_{name}{{service="{self.name}"}} {await gauge()}')
        return Response("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")


async def stop_loops(service: str, tasks: Sequence[asyncio.Task[None]], timeout_s: float) -> None:
    """Cancel ``tasks`` and wait up to ``timeout_s`` for them to end. One still running
    then is logged as an error, with where it waits, and left behind: a service that
    hangs on its way out is worse than one that stops with a loop still closing."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _done, pending = await asyncio.wait(tasks, timeout=timeout_s)
    for task in pending:
        log.error(
            "%s: loop %s did not stop within %g s of being cancelled; left waiting in %s",
            service,
            task.get_name(),
            timeout_s,
            waiting_in(task),
        )


def waiting_in(task: asyncio.Task[None]) -> str:
    """Where a suspended task waits: its chain of awaited coroutines, outermost first
    (code names only, never values). ``Task.get_stack`` gives only the outermost frame."""
    names: list[str] = []
    awaited: object = task.get_coro()
    while awaited is not None and len(names) < 30:
        code = getattr(awaited, "cr_code", None) or getattr(awaited, "gi_code", None)
        if code is None:
            names.append(type(awaited).__name__)
            break
        names.append(code.co_qualname)
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return " > ".join(names)


async def _forever(service: str, loop: Loop) -> None:
    """Run a scheduler loop; a crash is logged and the loop restarted, never lost."""
    while True:
        try:
            await loop()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception(
                "%s: loop %s failed (%s); restarting",
                service,
                getattr(loop, "__name__", loop),
                type(exc).__name__,
            )
            await asyncio.sleep(1)

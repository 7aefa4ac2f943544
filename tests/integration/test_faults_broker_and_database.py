"""Faults on the real components, with ingest, router and notifier running as processes
(issue 4): the broker restarts mid-stream (the embedded broker keeps nothing, so the
services must notice and republish), and the database is briefly unavailable (the
services wait and carry on). Either way every alert reaches the SMTP server exactly once
and every event the police sent is accepted."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from relay.embedded import EmbeddedBroker, free_port
from relay.smtp_sink import SinkHandler
from services.runtime.migrations import upgrade
from services.runtime.settings import SERVICES, RelaySettings
from tests.conftest import eventually
from tests.integration.test_crash_recovery import child, directory, env_for, start
from tests.settled import nothing_left_to_send
from tests.tcp_proxy import TcpProxy

CHILDREN = 30  # directory() puts each on a school roll and a GP list
EXPECTED = CHILDREN * 3  # school, GP practice, local authority


def event(i: int) -> dict[str, Any]:
    given, family, born = child(i)
    return {
        "event_id": f"fault-{i}",
        "type": "reported",
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "force_code": "10",
        "episode_ref": f"10-FT-{i}",
        "child": {"given_name": given, "family_name": family, "date_of_birth": born},
        "risk": {"grade": "medium"},
    }


class Stack:
    """Ingest, router and notifier as `relay serve` processes."""

    def __init__(self, settings: RelaySettings, tmp_path: Path) -> None:
        self.settings = settings
        self.env = env_for(settings)
        self.ingest_port = free_port()
        self.env.update(
            RELAY_INGEST_DATABASE_URL=settings.database_url_for("ingest"),
            RELAY_INGEST_PORT=str(self.ingest_port),
            RELAY_BROKER_CHECK_INTERVAL_S="1",
        )
        self.logs = tmp_path / "logs"
        self.logs.mkdir()
        self.tmp_path = tmp_path
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def relay(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "relay", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def prepare(self) -> str:
        for service in ("ingest", "router", "notifier"):
            upgrade(service, self.settings.database_url_for(service))
        organisations, roll = directory(self.tmp_path)
        self.relay("directory", "import", "organisations", str(organisations))
        self.relay("directory", "import", "roll", str(roll))
        created = json.loads(
            self.relay("keys", "create", "--force-code", "10", "--name", "faults", "--json")
        )
        return str(created["key"])

    def start(self) -> None:
        for service in ("ingest", "router", "notifier"):
            self.processes[service] = start(service, self.env, self.logs / f"{service}.log")

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.processes.values())

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()

    def log(self, service: str) -> str:
        return (self.logs / f"{service}.log").read_text(errors="replace")

    def log_ends(self) -> dict[str, int]:
        return {service: len(self.log(service)) for service in self.processes}

    def each_logged(self, pattern: str, since: dict[str, int]) -> bool:
        """Every service has logged ``pattern`` since ``since`` (from :meth:`log_ends`)."""
        return all(re.search(pattern, self.log(s)[at:]) for s, at in since.items())


async def post_until_accepted(client: httpx.AsyncClient, key: str, body: dict[str, Any]) -> int:
    """Post as a police system would: again after a 503 (or no answer) until accepted.
    Returns how many 503s it took."""
    refusals = 0
    while True:
        try:
            answer = await client.post(
                "/v1/episode-events", json=body, headers={"Authorization": f"Bearer {key}"}
            )
        except httpx.TransportError:
            answer = None
        if answer is not None and answer.status_code in (200, 202):
            return refusals
        assert answer is None or answer.status_code == 503, answer.text
        refusals += 1
        await asyncio.sleep(0.5)


def message_ids(sink: SinkHandler) -> Counter[str]:
    return Counter(str(m.message["Message-ID"]) for m in sink.received)


async def run_stream(
    stack: Stack,
    sink: SinkHandler,
    key: str,
    fault: Callable[[], Any],
    recover: Callable[[], Any],
    felt: str | None,
) -> list[int]:
    """Post every event; after a third of the alerts have arrived, ``fault``; once every
    service has logged ``felt`` since (the fault has reached each of them), or, for a
    fault they cannot tell (None), once the rest of the events are accepted, ``recover``.
    Returns the 503 count per event."""
    stack.start()
    base = f"http://127.0.0.1:{stack.ingest_port}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await eventually(_healthy(client), 120)
        refusals = [await post_until_accepted(client, key, event(i)) for i in range(10)]
        await eventually(lambda: len(sink.received) >= 10, 120)
        since = stack.log_ends()
        await fault()
        posting = asyncio.gather(
            *(post_until_accepted(client, key, event(i)) for i in range(10, CHILDREN))
        )
        if felt is None:
            await eventually(posting.done, 120)
        else:
            await eventually(lambda: stack.each_logged(felt, since), 120)
        await recover()
        refusals += await posting
        await eventually(lambda: len(message_ids(sink)) >= EXPECTED, 240)
        # Every email the notifier will send is in the sink once it holds none to send.
        notifier_db = stack.settings.database_url_for("notifier")
        await eventually(lambda: nothing_left_to_send(notifier_db), 120)
        assert (await client.get("/healthz")).status_code == 200
    return refusals


def _healthy(client: httpx.AsyncClient) -> Callable[[], Any]:
    async def check() -> bool:
        try:
            return (await client.get("/healthz")).status_code == 200
        except httpx.TransportError:
            return False

    return check


def assert_each_alert_once(sink: SinkHandler) -> None:
    counts = message_ids(sink)
    assert len(counts) == EXPECTED, "alerts lost"
    assert max(counts.values()) == 1, f"sent twice: {[m for m, n in counts.items() if n > 1]}"


async def test_the_broker_restarts_mid_stream_and_nothing_is_lost(
    settings: RelaySettings, smtp_server: tuple[str, SinkHandler], tmp_path: Path
) -> None:
    _, sink = smtp_server
    broker = EmbeddedBroker(free_port(), tmp_path / "broker.log")
    broker.start()
    settings = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap})
    stack = Stack(settings, tmp_path)
    key = await asyncio.to_thread(stack.prepare)

    async def fault() -> None:
        await asyncio.to_thread(broker.stop)

    async def recover() -> None:
        await asyncio.to_thread(broker.start)  # same port, empty: a memory-only broker

    def each_noticed_the_loss() -> bool:
        return all("the broker lost its data" in stack.log(s) for s in stack.processes)

    try:
        # Each service's broker check finds the broker away.
        await run_stream(stack, sink, key, fault, recover, felt="broker check: ")
        # Every alert may be through before a service's next check (one a second) finds
        # the new epoch; each must still find it, whatever it had left to republish.
        await eventually(each_noticed_the_loss, 60)
        assert stack.alive()
    finally:
        stack.stop()
        broker.stop()
    assert_each_alert_once(sink)
    assert "republished" in stack.log("ingest")


@contextmanager
def sqlite_locked(paths: list[Path]) -> Iterator[None]:
    """Hold an exclusive lock on each SQLite file: writers there wait on busy_timeout."""
    connections = []
    try:
        for path in paths:
            connection = sqlite3.connect(path, timeout=30, isolation_level=None)
            connection.execute("BEGIN EXCLUSIVE")
            connections.append(connection)
        yield
    finally:
        for connection in connections:
            connection.execute("ROLLBACK")
            connection.close()


async def test_the_database_is_briefly_unavailable_and_the_services_carry_on(
    settings: RelaySettings, smtp_server: tuple[str, SinkHandler], tmp_path: Path
) -> None:
    _, sink = smtp_server
    urls = {s: settings.database_url_for(s) for s in SERVICES}
    postgres = urls["router"].startswith("postgresql")
    proxy: TcpProxy | None = None
    if postgres:
        # The services reach PostgreSQL through a proxy the test can cut.
        real = urlsplit(urls["router"])
        proxy = TcpProxy(real.hostname or "127.0.0.1", real.port or 5432, free_port())
        await proxy.start()
        via = {
            s: u.replace(f"@{real.hostname}:{real.port}/", f"@127.0.0.1:{proxy.port}/")
            if s != "console"
            else u
            for s, u in urls.items()
        }
        settings = settings.model_copy(update={f"{s}_database_url": u for s, u in via.items()})
    stack = Stack(settings, tmp_path)
    key = await asyncio.to_thread(stack.prepare)
    lock: Any = None

    async def fault() -> None:
        nonlocal lock
        if proxy is not None:
            await proxy.cut()
        else:
            # sqlite+aiosqlite:////abs/path.db -> /abs/path.db
            files = [Path(urls[s].split(":///", 1)[1]) for s in ("router", "notifier")]
            lock = sqlite_locked(files)
            lock.__enter__()

    async def recover() -> None:
        if proxy is not None:
            await proxy.start()
        else:
            lock.__exit__(None, None, None)

    try:
        # On PostgreSQL each service says it cannot reach its database (ingest answers
        # 503, the others retry). Writers on a locked SQLite file wait without a word:
        # the rest of the stream is accepted meanwhile, the others' loops blocked.
        felt = "database unavailable|retry" if postgres else None
        await run_stream(stack, sink, key, fault, recover, felt)
        assert stack.alive()
    finally:
        # Off the loop: the proxy (on this loop) carries the services' last writes as
        # they drain; a blocked loop would hold each of them to its stop timeout.
        await asyncio.to_thread(stack.stop)
        if proxy is not None:
            await proxy.cut()
    assert_each_alert_once(sink)
    if postgres:
        logs = stack.log("router") + stack.log("notifier")
        assert "will retry" in logs or "retrying" in logs

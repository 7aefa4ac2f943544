"""SIGKILL the router and the notifier in the middle of a stream of events, start them
again: no alert is lost and none is sent twice (DESIGN §2), on the real broker, database
and SMTP server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from relay.embedded import free_port
from relay.smtp_sink import SinkHandler
from schemas.catalogue import EPISODE_EVENTS
from schemas.episode import EpisodeEventV1, episode_message_id
from services.notifier.smtp import parse_smtp_url
from services.notifier.tables import attempts
from services.runtime.database import Database
from services.runtime.kafka import create_broker, ensure_topics
from services.runtime.migrations import upgrade
from services.runtime.settings import RelaySettings
from tests.conftest import eventually
from tests.settled import nothing_left_to_send

CHILDREN = 60
# How long the killed notifier's claims on the alerts it was sending hold before the
# restarted one takes them over: short, so the test does not wait out the 30 s default,
# but well above the stalls of a loaded two-core machine (as in tests/e2e/test_scale_out).
SENDING_LEASE_S = 10
# Distinct, realistic names: the matcher rightly holds look-alikes for review.
GIVEN = [
    "Amelia",
    "Oliver",
    "Isla",
    "Noah",
    "Ava",
    "Leo",
    "Freya",
    "Arthur",
    "Mia",
    "Harry",
    "Ivy",
    "Theo",
    "Grace",
    "Jack",
    "Lily",
    "Oscar",
    "Ella",
    "George",
    "Rosie",
    "Alfie",
    "Sophie",
    "Finley",
    "Evie",
    "Jacob",
    "Poppy",
    "Archie",
    "Daisy",
    "Logan",
    "Ruby",
    "Ethan",
]
FAMILY = [
    "Hart",
    "Reed",
    "Dixon",
    "Shaw",
    "Fenwick",
    "Armstrong",
    "Robson",
    "Charlton",
    "Milburn",
    "Elliott",
    "Ridley",
    "Hetherington",
    "Forster",
    "Errington",
    "Coulson",
]


def child(i: int) -> tuple[str, str, str]:
    """The i-th child's given name, family name and date of birth."""
    return (
        GIVEN[i % len(GIVEN)],
        FAMILY[(i + i // len(GIVEN)) % len(FAMILY)],
        f"2012-{1 + i % 12:02d}-{1 + i % 28:02d}",
    )


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
    for i in range(CHILDREN):
        for org in ("100001", "A81001"):
            rows.append(f"{org},{org}-{i},{','.join(child(i))}")
    roll.write_text("\n".join(rows) + "\n")
    return organisations, roll


def episode(i: int) -> EpisodeEventV1:
    event_id = f"crash-{i}"
    return EpisodeEventV1.model_validate(
        {
            "message_id": episode_message_id("10", event_id),
            "event_id": event_id,
            "type": "reported",
            "occurred_at": datetime.now(UTC) - timedelta(minutes=1),
            "force_code": "10",
            "episode_ref": f"10-CR-{i}",
            "risk": {"grade": "medium"},
            "child": dict(
                zip(("given_name", "family_name", "date_of_birth"), child(i), strict=True)
            ),
            "accepted_at": datetime.now(UTC),
            "source": "test",
        }
    )


def env_for(settings: RelaySettings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAY_")}
    env.update(
        RELAY_KAFKA_BOOTSTRAP=settings.bootstrap,
        RELAY_KAFKA_SESSION_TIMEOUT_MS=str(settings.kafka_session_timeout_ms),
        RELAY_ROUTER_DATABASE_URL=settings.database_url_for("router"),
        RELAY_NOTIFIER_DATABASE_URL=settings.database_url_for("notifier"),
        RELAY_SMTP_URL=settings.smtp,
        RELAY_TOPIC_PREFIX=settings.topic_prefix,
        RELAY_VAR_DIR=str(settings.var_dir),
        RELAY_POLL_INTERVAL_S="0.1",
        RELAY_NOTIFIER_SENDING_LEASE_S=str(SENDING_LEASE_S),
        RELAY_ROUTER_PORT=str(free_port()),
        RELAY_NOTIFIER_PORT=str(free_port()),
    )
    return env


def start(service: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "relay", "serve", service],
        env=env,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
    )


async def test_sigkill_mid_stream_loses_nothing_and_sends_nothing_twice(
    settings: RelaySettings, smtp_server: tuple[str, SinkHandler], tmp_path: Path
) -> None:
    _, sink = smtp_server
    env = env_for(settings)
    for service in ("router", "notifier"):
        await asyncio.to_thread(upgrade, service, settings.database_url_for(service))
    organisations, roll = directory(tmp_path)
    for kind, path in (("organisations", organisations), ("roll", roll)):
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "relay", "directory", "import", kind, str(path)],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
    await ensure_topics(settings)
    broker = create_broker(settings, "crash-test")
    await broker.start()
    try:
        for i in range(CHILDREN):
            message = episode(i)
            await broker.publish(
                message.model_dump_json().encode(),
                topic=settings.topic(EPISODE_EVENTS.wire),
                key=message.episode_key.encode(),
            )
    finally:
        await broker.stop()

    logs = tmp_path / "logs"
    logs.mkdir()
    router = start("router", env, logs / "router.log")
    notifier = start("notifier", env, logs / "notifier.log")
    try:
        await eventually(lambda: len(sink.received) >= 20, 120)
        router.send_signal(signal.SIGKILL)
        router.wait()
        router = start("router", env, logs / "router.log")
        await eventually(lambda: len(sink.received) >= 70, 120)
        notifier.send_signal(signal.SIGKILL)
        notifier.wait()
        notifier = start("notifier", env, logs / "notifier.log")

        expected = CHILDREN * 3  # school, GP practice, local authority
        ids = lambda: Counter(m.message["Message-ID"] for m in sink.received)  # noqa: E731
        await eventually(lambda: len(ids()) >= expected, 180)
        # Interrupted alerts the restarted notifier took over go again: wait until it
        # holds nothing more to send, so every repeat it will make is in the sink.
        await eventually(lambda: nothing_left_to_send(settings.database_url_for("notifier")), 120)
    finally:
        for process in (router, notifier):
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    counts = ids()
    assert len(counts) == expected, "alerts lost"
    # SMTP has no transactions: an email the server accepted just before the SIGKILL,
    # whose "sent" never reached the database, goes again. That window is one email wide
    # per SMTP connection (the notifier sends on each of its pool's connections and
    # records each outcome before that connection sends again) and recorded as an
    # interrupted attempt, so the repeat is visible, and it carries the same Message-ID,
    # so a mailbox (and our sink) can fold it.
    twice = {message_id for message_id, n in counts.items() if n > 1}
    db = Database(settings.database_url_for("notifier"))
    try:
        async with db.transaction() as session:
            interrupted = {
                f"<{row.alert_id}@missing-episode-relay>"
                for row in await session.execute(
                    attempts.select().where(attempts.c.outcome == "interrupted")
                )
            }
    finally:
        await db.dispose()
    assert twice <= interrupted, f"sent twice without a recorded crash window: {twice}"
    assert len(twice) <= parse_smtp_url(settings.smtp).pool

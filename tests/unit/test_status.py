"""What `relay status` calls a problem (relay/status.py): pure, over figures given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from relay.status import Backlog, ServiceHealth, Status, problems

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def healthy() -> Status:
    return Status(
        NOW,
        services={
            s: ServiceHealth(f"http://127.0.0.1/{s}/healthz", True, "ok")
            for s in ("ingest", "router", "notifier", "console")
        },
        lag={"router": {"episode-events.v1": 3}},
        outbox={"ingest": Backlog(2, NOW - timedelta(seconds=4))},
        dead_letters={},
        oldest_unsent_alert=NOW - timedelta(minutes=2),
        unsent_alerts=1,
        directory_imported=NOW - timedelta(days=1),
    )


def test_a_healthy_relay_needs_nobody() -> None:
    assert problems(healthy()) == []


def test_each_problem_is_named_with_what_to_do() -> None:
    status = healthy()
    status.services["notifier"] = ServiceHealth("http://n/healthz", False, "unreachable")
    status.lag["router"]["episode-events.v1"] = 5000
    status.outbox["ingest"] = Backlog(40, NOW - timedelta(minutes=12))
    status.dead_letters = {"alerts-requested.v1": 2}
    status.oldest_unsent_alert = NOW - timedelta(hours=2)
    status.directory_imported = NOW - timedelta(days=20)
    status.unreadable = ["consumer lag (broker): KafkaConnectionError"]
    assert problems(status) == [
        "notifier is not up (unreachable) at http://n/healthz",
        "router is 5000 messages behind on episode-events.v1",
        "ingest has 40 message(s) unpublished, the oldest for 12 min: is the broker reachable?",
        "2 dead letter(s) waiting: `relay dlq list`, then `relay dlq retry`",
        "an alert has waited 2 h to be sent (1 unsent): is the SMTP relay answering? "
        "(`relay alerts list --state temporary-failure`)",
        "the directory was last imported 20 days ago: is the job running?",
        "could not read consumer lag (broker): KafkaConnectionError",
    ]


def test_no_directory_yet_is_a_problem() -> None:
    status = healthy()
    status.directory_imported = None
    assert problems(status) == ["no directory imported yet: `relay directory import organisations`"]

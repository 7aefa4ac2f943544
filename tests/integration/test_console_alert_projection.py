"""Alert statuses projected per batch (services/console/alert_projection.py): whatever
order and batches the statuses come in, with ties in time and in rank, every alert ends
in the state alert_rows.latest_alert_state picks from all its statuses."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from schemas.messages import AlertState
from services.console import alert_rows
from services.console.alert_projection import AlertWrites
from services.console.tables import alert_states, alerts, episodes, metadata
from services.runtime.database import Database
from services.runtime.deferred_writes import deferred

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def skeleton(alert_id: str) -> dict[str, object]:
    return {
        "alert_id": alert_id,
        "episode_key": "10:E1",
        "kind": "reported",
        "recipient_code": "100001",
        "recipient_kind": "school",
        "recipient_name": "Hillside",
        "event_message_id": "m-1",
        "event_type": "reported",
    }


def statuses(rng: random.Random, alert_id: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for n in range(rng.randint(1, 7)):
        out.append(
            {
                "message_id": f"{alert_id}-{n:02d}-{rng.randint(0, 999):03d}",
                "alert_id": alert_id,
                # Few distinct times: many ties, broken by rank, then by message id.
                "state": rng.choice(list(AlertState)).value,
                "at": T0 + timedelta(seconds=rng.randint(0, 2)),
                "attempt": rng.randint(0, 3),
                "detail": None,
            }
        )
    return out


async def test_any_order_and_batching_ends_in_the_latest_state(
    database_url: Callable[[str], str],
) -> None:
    rng = random.Random(18)
    every = [s for a in range(40) for s in statuses(rng, f"a{a:02d}")]
    rng.shuffle(every)
    db = Database(database_url("console"))
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        while every:
            size = rng.randint(1, 12)
            batch, every = every[:size], every[size:]
            async with db.transaction() as session:
                for state in batch:
                    deferred(session, AlertWrites).status(skeleton(str(state["alert_id"])), state)
                if rng.random() < 0.3:  # a repeat of a status seen before changes nothing
                    deferred(session, AlertWrites).status(
                        skeleton(str(batch[0]["alert_id"])), batch[0]
                    )
        async with db.transaction() as session:
            stored = (await session.execute(select(alert_states))).mappings().all()
            rows = (await session.execute(select(alerts))).mappings().all()
        by_alert: dict[str, list[dict[str, object]]] = {}
        for kept in stored:
            by_alert.setdefault(str(kept["alert_id"]), []).append(dict(kept))
        assert len(rows) == len(by_alert) == 40
        for row in rows:
            assert {
                "state": row["state"],
                "state_at": row["state_at"],
                "attempt": row["attempt"],
            } == alert_rows.latest_alert_state(by_alert[row["alert_id"]])
    finally:
        await db.dispose()


def _placeholder() -> dict[str, object]:
    return {
        "episode_key": "10:E1",
        "force_code": "10",
        "episode_ref": "E1",
        "event_count": 0,
        "updated_at": T0,
    }


# What messages say of one episode, in order: (authority, resident LA, child); None
# leaves the column as it is.
_SAID: list[tuple[str | None, str | None, str | None]] = [
    ("E10000001", None, "c-1"),
    (None, "E10000002", None),
    (None, None, "c-2"),
    ("E10000003", None, None),
    (None, None, None),
]


async def test_an_episode_updated_by_several_messages_in_one_flush_ends_as_one_by_one(
    database_url: Callable[[str], str],
) -> None:
    """The flush writes one update per episode (alert_projection._merged_updates): the
    last value each column was given, the child the last named."""
    ended: list[dict[str, object]] = []
    for together in (False, True):
        db = Database(database_url(f"console-{together}"))
        try:
            async with db.engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
            async with db.transaction() as session:
                deferred(session, AlertWrites).placeholder(_placeholder())
            for start in range(0, len(_SAID), len(_SAID) if together else 1):
                async with db.transaction() as session:
                    for authority, resident, child in _SAID[start : start + (5 if together else 1)]:
                        deferred(session, AlertWrites).episode(
                            "10:E1", {"authority_code": authority, "resident_la": resident}, child
                        )
            async with db.transaction() as session:
                row = (await session.execute(select(episodes))).mappings().one()
            ended.append({k: row[k] for k in ("authority_code", "resident_la", "child_id")})
        finally:
            await db.dispose()
    last = {"authority_code": "E10000003", "resident_la": "E10000002", "child_id": "c-2"}
    assert ended[0] == last
    assert ended[1] == ended[0]

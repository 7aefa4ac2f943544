"""Episode events and their episodes' summaries in the read model, written per consumer
batch (issue 18).

An event is kept and its episode summarised again from all its events (the order they
came in must not matter, so the summary is never patched), then the episode takes the
router's link to its child. One message at a time that is four statements an event;
here the batch's events go in one ``executemany``, the events of all their episodes
come back in one query, and each episode is summarised and upserted once, then takes
its link, in one ``executemany`` each. These writes commute with the alert rows
(alert_projection.py: the summary leaves the alert's columns of the episode alone, and
the child comes out the same whichever is written first), and a handler that reads
what the buffer holds flushes it first (handlers.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from services.console import child_links, projections, repository
from services.console.projections import Row
from services.console.tables import episode_events, episodes
from services.runtime.database import utcnow

# The columns an episode's summary is made from (projections.summarise_episode), for
# several episodes at once.
_EVENTS_OF = select(
    episode_events.c.episode_key,
    *(episode_events.c[name] for name in repository.SUMMARY_COLUMNS),
).where(episode_events.c.episode_key.in_(bindparam("b_keys", expanding=True)))


@dataclass
class EventWrites:
    """The episode events of one transaction, written in :meth:`flush`."""

    rows: list[Row] = field(default_factory=list)
    episodes: dict[str, tuple[str, str]] = field(default_factory=dict)  # key: force, ref

    def event(self, row: Row, force_code: str, episode_ref: str) -> None:
        self.rows.append(row)
        self.episodes.setdefault(row["episode_key"], (force_code, episode_ref))

    async def flush(self, session: AsyncSession) -> None:
        rows, self.rows = self.rows, []
        keyed, self.episodes = self.episodes, {}
        if rows:
            await session.run_sync(lambda sync: _write(sync.connection(), rows, keyed))


def _write(connection: Connection, rows: list[Row], keyed: dict[str, tuple[str, str]]) -> None:
    """The events, their episodes' summaries and links, in one hand-over to the session's
    synchronous side, the writes prepared (on SQLite on the driver, issue 18)."""
    repository.write_many(connection, episode_events, "ignore", _first_per_id(rows))
    found: dict[str, list[Any]] = {key: [] for key in keyed}
    for event in connection.execute(_EVENTS_OF, {"b_keys": list(keyed)}).mappings():
        found[event["episode_key"]].append(event)
    now = utcnow()
    summaries: dict[tuple[str, ...], list[Row]] = {}
    for key, (force_code, ref) in keyed.items():
        summary = projections.summarise_episode(force_code, ref, found[key], now)
        summaries.setdefault(tuple(summary), []).append(summary)
    for same_columns in summaries.values():
        repository.write_many(connection, episodes, "upsert", same_columns)
    child_links.follow_all(connection, list(keyed))


def _first_per_id(rows: list[Row]) -> list[Row]:
    kept: dict[str, Row] = {}
    for row in rows:
        kept.setdefault(row["message_id"], row)
    return list(kept.values())

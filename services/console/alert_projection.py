"""Alerts and their states in the read model, written per consumer batch (issue 18).

``alerts-requested`` and ``alert-status`` are two thirds of what the console consumes.
Their writes commute with one another (an insert-ignore, an upsert of the request's own
columns, an update of the state columns only when a status is the latest), so the
handlers hand their rows to :class:`AlertWrites` and the transaction writes each table
once per batch with ``executemany`` (services/runtime/deferred_writes.py). Handlers of
other topics that read or write these rows flush it first (handlers.py).

An alert's state is the latest of its statuses by time, then by how far along its life
the state is, then by message id (alert_rows.latest_alert_state). A status is written
to ``console_alert_states`` and then offered to the alert in one conditional UPDATE that
applies only when no stored status of the alert is later: whatever order statuses come
in, the last one standing is the latest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from services.console import alert_rows, repository
from services.console.projections import Row
from services.console.tables import alert_states, alerts, child_links, episodes
from services.runtime.prepared import Prepared


def _rank(state: Any) -> Any:
    """alert_rows.alert_state_rank in SQL (-1 for a state it does not know)."""
    return case(
        {value: rank for value, rank in alert_rows.ALERT_STATE_RANKS.items()},
        value=state,
        else_=literal(-1),
    )


_later = alert_states.alias("later")
_at = bindparam("b_at", type_=alert_states.c.at.type)
_rank_param = bindparam("b_rank", type_=Integer)
_message_id = bindparam("b_message_id", type_=String)

# The status is its alert's latest: no stored status of the alert comes after it.
_STATE = (
    update(alerts)
    .where(
        alerts.c.alert_id == bindparam("b_alert_id"),
        ~exists().where(
            _later.c.alert_id == alerts.c.alert_id,
            or_(
                _later.c.at > _at,
                and_(
                    _later.c.at == _at,
                    or_(
                        _rank(_later.c.state) > _rank_param,
                        and_(
                            _rank(_later.c.state) == _rank_param,
                            _later.c.message_id > _message_id,
                        ),
                    ),
                ),
            ),
        ),
    )
    .values(state=bindparam("b_state"), state_at=_at, attempt=bindparam("b_attempt"))
)

# What an alert says of its episode: the responsible authority, where a looked-after
# child lives, and (until the router's link is here) which child it is: the link's
# child once there is one (child_links.py). A value the alert does not give leaves the
# column as it is.
_EPISODE = (
    update(episodes)
    .where(episodes.c.episode_key == bindparam("b_episode_key"))
    .values(
        authority_code=func.coalesce(
            bindparam("b_authority_code", type_=String), episodes.c.authority_code
        ),
        resident_la=func.coalesce(bindparam("b_resident_la", type_=String), episodes.c.resident_la),
        child_id=func.coalesce(
            select(child_links.c.child_id)
            .where(child_links.c.episode_key == episodes.c.episode_key)
            .scalar_subquery(),
            bindparam("b_child_id", type_=String),
            episodes.c.child_id,
        ),
    )
)


_STATE_PREPARED = Prepared(_STATE)
_EPISODE_PREPARED = Prepared(_EPISODE)


def _latest_per_alert(states: list[Row]) -> list[Row]:
    best: dict[str, Row] = {}
    for state in states:
        current = best.get(state["alert_id"])
        if current is None or alert_rows.alert_state_key(state) > alert_rows.alert_state_key(
            current
        ):
            best[state["alert_id"]] = state
    return list(best.values())


def _merged_updates(updates: list[Row]) -> list[Row]:
    """One :data:`_EPISODE` update per episode, leaving what the updates one after
    another leave: each value the last one given (an update gives a value or leaves the
    column as it is), the child the link's when there is one (no link changes between
    them: a flush writes them together)."""
    merged: dict[str, dict[str, Any]] = {}
    for update_ in updates:
        held = merged.get(update_["b_episode_key"])
        if held is None:
            merged[update_["b_episode_key"]] = dict(update_)
            continue
        for name in ("b_authority_code", "b_resident_la", "b_child_id"):
            if update_[name] is not None:
                held[name] = update_[name]
    return list(merged.values())


def _by_key(rows: list[Row], key: str, first: bool) -> list[Row]:
    """One row per primary key (an executemany may become one multi-row INSERT, which
    PostgreSQL refuses to let touch a row twice): the first for an insert-ignore, the
    last for an upsert (what running them one by one would leave)."""
    kept: dict[Any, Row] = {}
    for row in rows:
        if first:
            kept.setdefault(row[key], row)
        else:
            kept[row[key]] = row
    return list(kept.values())


@dataclass
class AlertWrites:
    """The alert rows of one transaction, written in :meth:`flush`."""

    placeholders: list[Row] = field(default_factory=list)
    episode_updates: list[Row] = field(default_factory=list)
    requests: list[Row] = field(default_factory=list)
    skeletons: list[Row] = field(default_factory=list)
    states: list[Row] = field(default_factory=list)

    def request(self, placeholder: Row, authority: Row, child_id: str | None, row: Row) -> None:
        self.placeholders.append(placeholder)
        self.episode(placeholder["episode_key"], authority, child_id)
        self.requests.append(row)

    def placeholder(self, placeholder: Row) -> None:
        """The episode's row unless it exists (an RHI task's, too)."""
        self.placeholders.append(placeholder)

    def episode(self, episode_key: str, authority: Row, child_id: str | None) -> None:
        """What a message says of its episode: a value it does not give leaves the column
        as it is; the router's link, when there is one, names the child."""
        self.episode_updates.append(
            {
                "b_episode_key": episode_key,
                "b_authority_code": authority.get("authority_code"),
                "b_resident_la": authority.get("resident_la"),
                "b_child_id": child_id,
            }
        )

    def status(self, skeleton: Row, state: Row) -> None:
        self.skeletons.append(skeleton)
        self.states.append(state)

    async def flush(self, session: AsyncSession) -> None:
        placeholders, self.placeholders = self.placeholders, []
        episode_updates, self.episode_updates = self.episode_updates, []
        requests, self.requests = self.requests, []
        skeletons, self.skeletons = self.skeletons, []
        states, self.states = self.states, []
        if placeholders or episode_updates or requests or states:
            held = _Held(placeholders, episode_updates, requests, skeletons, states)
            await session.run_sync(lambda sync: held.write(sync.connection()))


@dataclass(frozen=True)
class _Held:
    """What :class:`AlertWrites` held, written in one hand-over to the session's
    synchronous side, each statement prepared (on SQLite on the driver, issue 18)."""

    placeholders: list[Row]
    episode_updates: list[Row]
    requests: list[Row]
    skeletons: list[Row]
    states: list[Row]

    def write(self, connection: Connection) -> None:
        # In the order one message at a time would leave them: an episode exists before
        # it is updated, a status is stored before it is offered to its alert.
        repository.write_many(
            connection, episodes, "ignore", _by_key(self.placeholders, "episode_key", first=True)
        )
        _EPISODE_PREPARED.run_many(connection, _merged_updates(self.episode_updates))
        requests = _by_key(self.requests, "alert_id", first=False)
        repository.write_many(connection, alerts, "upsert", requests)
        if not self.states:
            return
        # A status's skeleton only makes the alert's row when there is none: the rows of
        # the alerts requested in this flush are there now.
        requested = {row["alert_id"] for row in requests}
        repository.write_many(
            connection,
            alerts,
            "ignore",
            [
                row
                for row in _by_key(self.skeletons, "alert_id", first=True)
                if row["alert_id"] not in requested
            ],
        )
        repository.write_many(
            connection, alert_states, "ignore", _by_key(self.states, "message_id", first=True)
        )
        _STATE_PREPARED.run_many(
            connection,
            [
                {
                    "b_alert_id": s["alert_id"],
                    "b_at": s["at"],
                    "b_rank": alert_rows.alert_state_rank(s["state"]),
                    "b_message_id": s["message_id"],
                    "b_state": s["state"],
                    "b_attempt": s["attempt"],
                }
                for s in _latest_per_alert(self.states)
            ],
        )

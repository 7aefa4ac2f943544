"""A hand-written fake for the console's projections: an in-memory
:class:`~services.console.projection_store.ConsoleProjection`. Alert writes wait for
:meth:`flush_alerts`, as the batch's do. The real projection's queries are tested on a
database (tests/integration/test_console_*.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemas.messages import AlertRequestedV1, RhiTaskRequestedV1
from schemas.rhi_record import RhiTaskOutcomeV2
from services.console import alert_rows, projections
from services.console.projections import Row
from services.console.rhi_rows import rhi_record_row


def _upsert(table: dict[Any, Row], key: Any, row: Row) -> None:
    table[key] = {**table.get(key, {}), **row}


@dataclass
class MemoryConsoleProjection:
    """The read model's tables as dictionaries keyed by their primary keys."""

    episodes: dict[str, Row] = field(default_factory=dict)
    events: dict[str, Row] = field(default_factory=dict)
    links: dict[str, Row] = field(default_factory=dict)
    alerts: dict[str, Row] = field(default_factory=dict)
    alert_states: dict[str, Row] = field(default_factory=dict)
    rhi_tasks: dict[str, Row] = field(default_factory=dict)
    rhi_records: dict[str, Row] = field(default_factory=dict)
    reviews: dict[str, Row] = field(default_factory=dict)
    rejects: dict[str, Row] = field(default_factory=dict)
    dead_letters: dict[str, Row] = field(default_factory=dict)
    pending: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    flushes: int = 0

    def _take_link(self, episode_key: str, child_id: str | None) -> None:
        episode = self.episodes.get(episode_key)
        if episode is not None:
            link = self.links.get(episode_key)
            linked = link["child_id"] if link else None
            episode["child_id"] = linked or child_id or episode.get("child_id")

    async def record_event(self, row: Row, force_code: str, episode_ref: str) -> None:
        self.events.setdefault(row["message_id"], row)
        key = row["episode_key"]
        mine = [e for e in self.events.values() if e["episode_key"] == key]
        now = datetime.now(UTC)
        _upsert(
            self.episodes, key, projections.summarise_episode(force_code, episode_ref, mine, now)
        )

    async def follow_link(self, episode_key: str) -> None:
        self._take_link(episode_key, None)

    async def adopt_child(self, episode_key: str, child_id: str | None) -> None:
        if child_id is not None:
            self._take_link(episode_key, child_id)

    async def record_link(self, row: Row) -> bool:
        current = self.links.get(row["episode_key"])
        if current is not None and current["revision"] >= row["revision"]:
            return False
        _upsert(self.links, row["episode_key"], row)
        self._take_link(row["episode_key"], None)
        return True

    async def request_alert(
        self, placeholder: Row, authority: Row, child_id: str | None, alert: Row
    ) -> None:
        self.pending.append(("request", (placeholder, authority, child_id, alert)))

    async def alert_status(self, skeleton: Row, state: Row) -> None:
        self.pending.append(("status", (skeleton, state)))

    async def flush_alerts(self) -> None:
        self.flushes += 1
        pending, self.pending = self.pending, []
        for what, args in pending:
            if what == "request":
                self._request(*args)
            else:
                self._status(*args)

    def _request(self, placeholder: Row, authority: Row, child_id: str | None, alert: Row) -> None:
        key = placeholder["episode_key"]
        self.episodes.setdefault(key, dict(placeholder))
        for column in ("authority_code", "resident_la"):
            if authority.get(column) is not None:
                self.episodes[key][column] = authority[column]
        self._take_link(key, child_id)
        _upsert(self.alerts, alert["alert_id"], alert)

    def _status(self, skeleton: Row, state: Row) -> None:
        self.alerts.setdefault(skeleton["alert_id"], dict(skeleton))
        self.alert_states.setdefault(state["message_id"], state)
        mine = [s for s in self.alert_states.values() if s["alert_id"] == state["alert_id"]]
        # Whatever order statuses come in, the alert shows the latest.
        self.alerts[state["alert_id"]].update(alert_rows.latest_alert_state(mine))

    async def add_episode(self, placeholder: Row) -> None:
        self.episodes.setdefault(placeholder["episode_key"], dict(placeholder))

    async def update_episode(
        self, message: AlertRequestedV1 | RhiTaskRequestedV1, values: Row
    ) -> None:
        key = projections.episode_key(message.episode.force_code, message.episode.episode_ref)
        self.episodes[key].update(values)

    async def save_rhi_task(self, row: Row) -> None:
        _upsert(self.rhi_tasks, row["task_id"], row)

    async def rhi_task_state(self, task_id: str) -> Row | None:
        task = self.rhi_tasks.get(task_id)
        return {"state": task.get("state"), "state_at": task.get("state_at")} if task else None

    async def keep_rhi_record(self, record: RhiTaskOutcomeV2) -> None:
        current = self.rhi_records.get(record.task_id)
        row = rhi_record_row(record)
        if current is None or current["recorded_at"] > row["recorded_at"]:
            self.rhi_records[record.task_id] = row

    async def save_review(self, row: Row) -> None:
        _upsert(self.reviews, row["review_id"], row)

    async def keep_reject(self, row: Row) -> None:
        self.rejects.setdefault(row["message_id"], row)

    async def keep_dead_letter(self, row: Row) -> None:
        self.dead_letters.setdefault(row["message_id"], row)

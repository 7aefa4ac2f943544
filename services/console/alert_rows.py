"""Pure projections of alert messages to read-model rows, and which of an alert's
statuses is its current state: the latest by the time the notifier stamped on it (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from schemas.messages import (
    AlertRequestedV1,
    AlertState,
    AlertStatusV1,
)
from services.console.projections import Row, aware, episode_key

# Tie-break for two statuses stamped with the same time: the one further along wins.
_ALERT_STATE_ORDER = {
    AlertState.QUEUED: 0,
    AlertState.SENDING: 1,
    AlertState.TEMPORARY_FAILURE: 2,
    AlertState.SENT: 3,
    AlertState.PERMANENT_FAILURE: 4,
    AlertState.ESCALATED: 5,
    AlertState.ACKNOWLEDGED: 6,
    AlertState.CANCELLED: 6,
    AlertState.STOOD_DOWN: 7,
    AlertState.WITHDRAWN: 8,
}


def alert_request_row(alert: AlertRequestedV1) -> Row:
    ref = alert.episode
    return {
        "alert_id": alert.alert_id,
        "episode_key": episode_key(ref.force_code, ref.episode_ref),
        "kind": alert.kind.value,
        "recipient_code": alert.recipient.code,
        "recipient_kind": alert.recipient.kind.value,
        "recipient_name": alert.recipient.name,
        "event_message_id": ref.event_message_id,
        "event_type": ref.event_type.value,
        "roll_record_id": alert.roll_record_id,
        "reason": alert.reason,
        "policy_rule": alert.policy_rule,
        "requested_at": aware(alert.requested_at),
    }


def alert_from_status(status: AlertStatusV1) -> Row:
    """The alert row as far as a status tells it (for a status that overtook its request)."""
    return {
        "alert_id": status.alert_id,
        "episode_key": episode_key(status.force_code, status.episode_ref),
        "kind": status.kind.value,
        "recipient_code": status.recipient_code,
        "recipient_kind": status.recipient_kind.value,
        "recipient_name": status.recipient_name,
        "event_message_id": status.event_message_id,
        "event_type": status.event_type.value if status.event_type else None,
    }


def alert_state_row(status: AlertStatusV1) -> Row:
    return {
        "message_id": status.message_id,
        "alert_id": status.alert_id,
        "state": status.state.value,
        "at": aware(status.at),
        "attempt": status.attempt,
        "detail": status.detail,
    }


# By state value, for SQL (services/console/alert_projection.py).
ALERT_STATE_RANKS: dict[str, int] = {s.value: rank for s, rank in _ALERT_STATE_ORDER.items()}


def alert_state_rank(state: str) -> int:
    return ALERT_STATE_RANKS.get(state, -1)


def alert_state_key(state: Mapping[Any, Any]) -> tuple[datetime, int, str]:
    """How statuses of one alert order: by ``at``; at the same time, the state further
    along its life; then by message id."""
    return (state["at"], alert_state_rank(state["state"]), state["message_id"])


def latest_alert_state(states: Iterable[Mapping[Any, Any]]) -> Row:
    """The alert's current state from every status seen: the latest ``at`` wins; at the
    same time, the state further along its life wins."""
    latest = max(states, key=alert_state_key)
    return {"state": latest["state"], "state_at": latest["at"], "attempt": latest["attempt"]}

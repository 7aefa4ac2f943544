"""Ingest's own tables: the accepted-event log, rejects, API keys (DESIGN §1, §4), and
the read model of who knows about each episode (``alert-status``, ``alert-answers``)."""

from __future__ import annotations

from sqlalchemy import Column, Index, MetaData, String, Table, Text, UniqueConstraint

from services.runtime.database import UtcDateTime
from services.runtime.messaging import messaging_tables

metadata = MetaData()

api_keys = Table(
    "ingest_api_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("force_code", String(2), nullable=False),
    # sha256 hex of the key: the key itself is shown once and never stored.
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

events = Table(
    "ingest_events",
    metadata,
    Column("message_id", String(64), primary_key=True),
    Column("force_code", String(2), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("episode_ref", String(64), nullable=False),
    Column("type", String(20), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("accepted_at", UtcDateTime(), nullable=False),
    # The EpisodeEventV1 exactly as published, so a replay sends the same message.
    Column("payload", Text, nullable=False),
    UniqueConstraint("force_code", "event_id", name="uq_ingest_events_force_event"),
    Index("ix_ingest_events_accepted_at", "accepted_at"),
)

rejects = Table(
    "ingest_rejects",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("source", String(200), nullable=False),
    Column("force_code", String(10), nullable=True),
    Column("event_id", String(128), nullable=True),
    Column("errors", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Index("ix_ingest_rejects_received_at", "received_at"),
)

# One row per alert, from ``alert-status`` (services/ingest/episode_status.py).
episode_alerts = Table(
    "ingest_episode_alerts",
    metadata,
    Column("alert_id", String(64), primary_key=True),
    Column("force_code", String(8), nullable=False),
    Column("episode_ref", String(64), nullable=False),
    Column("recipient_code", String(32), nullable=False),
    Column("recipient_kind", String(32), nullable=False),
    Column("recipient_name", String(300), nullable=True),
    Column("kind", String(32), nullable=False),
    Column("event_type", String(32), nullable=True),
    Column("state", String(32), nullable=False),
    Column("state_at", UtcDateTime(), nullable=False),
    Column("first_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=True),
    Column("acknowledged_at", UtcDateTime(), nullable=True),
    Index("ix_ingest_episode_alerts_episode", "force_code", "episode_ref"),
    Index("ix_ingest_episode_alerts_state_at", "state_at"),
)

# A recipient's latest answer to an alert, from ``alert-answers``; never its text.
alert_answers = Table(
    "ingest_alert_answers",
    metadata,
    Column("alert_id", String(64), primary_key=True),
    Column("force_code", String(8), nullable=False),
    Column("episode_ref", String(64), nullable=False),
    Column("recipient_code", String(32), nullable=False),
    Column("recipient_kind", String(32), nullable=False),
    Column("recipient_name", String(300), nullable=False),
    Column("answer", String(32), nullable=False),
    Column("answered_at", UtcDateTime(), nullable=False),
    Index("ix_ingest_alert_answers_episode", "force_code", "episode_ref"),
    Index("ix_ingest_alert_answers_answered_at", "answered_at"),
)

messaging = messaging_tables(metadata, "ingest")

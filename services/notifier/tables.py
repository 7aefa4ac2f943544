"""The notifier's own tables (never read by another service)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from services.runtime.database import UtcDateTime
from services.runtime.messaging import messaging_tables

metadata = MetaData()

alerts = Table(
    "notifier_alerts",
    metadata,
    # Derived from (event, recipient, kind): a second alert for the same facts cannot exist.
    Column("alert_id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("recipient_code", String(32), nullable=False),
    Column("recipient_kind", String(32), nullable=False),
    Column("recipient_name", String(300), nullable=False),
    Column("recipient_email", String(320), nullable=False),
    Column("recipient_escalation_email", String(320), nullable=True),
    Column("recipient_la_code", String(16), nullable=True),
    Column("child_given_name", String(100), nullable=False),
    Column("child_family_name", String(100), nullable=False),
    Column("child_date_of_birth", Date, nullable=False),
    Column("force_code", String(8), nullable=False),
    Column("episode_ref", String(64), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("event_message_id", String(64), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("police_contact_name", String(200), nullable=True),
    Column("police_contact_phone", String(40), nullable=True),
    Column("police_contact_email", String(254), nullable=True),
    Column("reason", String(200), nullable=False),
    Column("policy_rule", String(100), nullable=False),
    Column("roll_record_id", String(128), nullable=True),
    Column("state", String(32), nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("first_attempt_at", UtcDateTime(), nullable=True),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=True),
    Column("smtp_message_id", String(300), nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("acknowledged_at", UtcDateTime(), nullable=True),
    Column("acknowledged_by", String(200), nullable=True),
    # The same facts under another id would still be one alert too many.
    UniqueConstraint("event_message_id", "recipient_code", "kind", name="uq_notifier_alerts_facts"),
    Index("ix_notifier_alerts_due", "state", "due_at"),
    Index("ix_notifier_alerts_episode", "force_code", "episode_ref"),
)

attempts = Table(
    "notifier_attempts",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("alert_id", String(64), ForeignKey("notifier_alerts.alert_id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    # sending | sent | temporary-failure | permanent-failure | interrupted
    Column("outcome", String(32), nullable=False),
    Column("smtp_code", Integer, nullable=True),
    Column("detail", String(500), nullable=True),
    UniqueConstraint("alert_id", "attempt", name="uq_notifier_attempts_alert_attempt"),
)

rhi_tasks = Table(
    "notifier_rhi_tasks",
    metadata,
    Column("task_id", String(64), primary_key=True),
    Column("authority_code", String(32), nullable=False),
    Column("authority_name", String(300), nullable=False),
    Column("authority_email", String(320), nullable=False),
    Column("authority_escalation_email", String(320), nullable=True),
    Column("child_given_name", String(100), nullable=False),
    Column("child_family_name", String(100), nullable=False),
    Column("child_date_of_birth", Date, nullable=False),
    Column("force_code", String(8), nullable=False),
    Column("episode_ref", String(64), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("event_message_id", String(64), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("looked_after", Boolean, nullable=False, default=False),
    Column("returned_at", UtcDateTime(), nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("state", String(32), nullable=False),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("outcome_reason", Text, nullable=True),
    Column("outcome_recorded_by", String(200), nullable=True),
    Column("outcome_recorded_at", UtcDateTime(), nullable=True),
    Column("notes", Text, nullable=True),
    Index("ix_notifier_rhi_tasks_due", "state", "due_at"),
    Index("ix_notifier_rhi_tasks_authority", "authority_code", "state"),
)

messaging = messaging_tables(metadata, "notifier")

"""The console's read model (DESIGN §8). Built only from topics; no other service's tables.

Privacy: the console holds the child's name, date of birth, authority, risk factors,
where found and with whom, for the signed-in pages that need them (the child's
timeline, watchlist, links, meeting pack); the stream and the episode pages show
initials and year of birth only. Every row is keyed by an id from its message so that
messages arriving in any order, or twice, converge on the same rows (upserts).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from services.runtime.audit_chain import chain_columns, chain_heads
from services.runtime.database import UtcDateTime
from services.runtime.messaging import messaging_tables

metadata = MetaData()

# One row per episode, ``episode_key`` = ``<force_code>:<episode_ref>`` (the topic key).
# Summary columns are recomputed from ``console_episode_events`` on every event, so the
# order events arrive in does not matter. A row may first come from an alert that
# overtook its episode event: then ``event_count`` is 0 and the summary is the alert's.
episodes = Table(
    "console_episodes",
    metadata,
    Column("episode_key", String(300), primary_key=True),
    Column("force_code", String(20), nullable=False),
    Column("episode_ref", String(200), nullable=False),
    Column("initials", String(8), nullable=True),
    Column("birth_year", Integer, nullable=True),
    Column("looked_after", Boolean, nullable=True),
    Column("risk_grade", String(20), nullable=True),
    Column("latest_event_type", String(20), nullable=True),
    Column("latest_event_at", UtcDateTime(), nullable=True),
    Column("first_event_at", UtcDateTime(), nullable=True),
    Column("event_count", Integer, nullable=False, default=0),
    Column("updated_at", UtcDateTime(), nullable=False),
    # Who the child is, for the signed-in pages (the child's timeline, the watchlist,
    # links between children); ``child_key`` groups a child's episodes (projections).
    Column("child_key", String(64), nullable=True),
    Column("given_name", String(100), nullable=True),
    Column("family_name", String(100), nullable=True),
    Column("date_of_birth", Date, nullable=True),
    Column("responsible_la", String(9), nullable=True),
    Column("risk_factors", String(500), nullable=True),  # every event's, comma-separated
    # The police withdrew the episode (raised in error or for the wrong child): it stays
    # for the audit and the stream, and is left out of the watchlist, pack and figures.
    Column("withdrawn_at", UtcDateTime(), nullable=True),
    Column("withdrawn_reason", String(500), nullable=True),
    Index("ix_console_episodes_latest", "latest_event_at"),
    Index("ix_console_episodes_child", "child_key", "latest_event_at"),
    Index("ix_console_episodes_la", "responsible_la", "latest_event_at"),
)

episode_events = Table(
    "console_episode_events",
    metadata,
    Column("message_id", String(200), primary_key=True),
    Column("episode_key", String(300), nullable=False),
    Column("event_id", String(128), nullable=False),
    Column("type", String(20), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("accepted_at", UtcDateTime(), nullable=False),
    Column("risk_grade", String(20), nullable=True),
    Column("missing_from", String(20), nullable=True),
    Column("source", String(100), nullable=False),
    Column("initials", String(8), nullable=False),
    Column("birth_year", Integer, nullable=False),
    Column("looked_after", Boolean, nullable=False),
    Column("child_key", String(64), nullable=True),
    Column("given_name", String(100), nullable=True),
    Column("family_name", String(100), nullable=True),
    Column("date_of_birth", Date, nullable=True),
    Column("responsible_la", String(9), nullable=True),
    Column("risk_factors", String(500), nullable=True),
    Column("location_postcode", String(8), nullable=True),
    Column("location_description", String(500), nullable=True),
    Column("found_with", Text, nullable=True),  # JSON: [{given_name, family_name, date_of_birth}]
    Column("reason", String(500), nullable=True),  # why the police withdrew it (withdrawn)
    Index("ix_console_episode_events_episode", "episode_key", "occurred_at"),
)

# One row per alert. Request columns come from alerts-requested, state columns from
# alert-status; either may arrive first.
alerts = Table(
    "console_alerts",
    metadata,
    Column("alert_id", String(200), primary_key=True),
    Column("episode_key", String(300), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("recipient_code", String(100), nullable=False),
    Column("recipient_kind", String(20), nullable=False),
    Column("recipient_name", String(300), nullable=True),
    Column("event_message_id", String(200), nullable=False),
    Column("event_type", String(20), nullable=True),
    Column("reason", String(200), nullable=True),
    Column("policy_rule", String(200), nullable=True),
    Column("requested_at", UtcDateTime(), nullable=True),
    Column("state", String(20), nullable=True),
    Column("state_at", UtcDateTime(), nullable=True),
    Column("attempt", Integer, nullable=True),
    # The roll record the router matched (school, GP practice, YOT): what a "we do not
    # know this child" answer disputes.
    Column("roll_record_id", String(128), nullable=True),
    Index("ix_console_alerts_episode", "episode_key"),
)

# Every alert-status message, for the alert page's history and to pick the latest state
# whatever order the statuses came in.
alert_states = Table(
    "console_alert_states",
    metadata,
    Column("message_id", String(200), primary_key=True),
    Column("alert_id", String(200), nullable=False),
    Column("state", String(20), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("detail", String(500), nullable=True),
    Index("ix_console_alert_states_alert", "alert_id", "at"),
)

rhi_tasks = Table(
    "console_rhi_tasks",
    metadata,
    Column("task_id", String(200), primary_key=True),
    Column("episode_key", String(300), nullable=False),
    Column("authority_code", String(100), nullable=False),
    Column("authority_name", String(300), nullable=True),
    Column("returned_at", UtcDateTime(), nullable=True),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("requested_at", UtcDateTime(), nullable=True),
    Column("state", String(20), nullable=True),
    Column("state_at", UtcDateTime(), nullable=True),
    Column("note", String(500), nullable=True),
    Index("ix_console_rhi_tasks_episode", "episode_key"),
)

identity_reviews = Table(
    "console_identity_reviews",
    metadata,
    Column("review_id", String(200), primary_key=True),
    Column("episode_key", String(300), nullable=True),
    Column("requested_at", UtcDateTime(), nullable=True),
    Column("candidate_count", Integer, nullable=True),
    Column("decision", String(20), nullable=True),
    Column("decided_at", UtcDateTime(), nullable=True),
    # What the reviewer sets side by side: the police record and the candidate roll
    # records with the matcher's explanation (JSON), and who decided.
    Column("org_code", String(20), nullable=True),
    Column("child", Text, nullable=True),
    Column("candidates", Text, nullable=True),
    Column("decided_by", String(200), nullable=True),
)

rejects = Table(
    "console_rejects",
    metadata,
    Column("message_id", String(200), primary_key=True),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("source", Text, nullable=False),
    Column("force_code", String(20), nullable=True),
    Column("event_id", String(300), nullable=True),
    Column("errors", Text, nullable=False),  # JSON: [{"field", "message"}]
    Index("ix_console_rejects_received", "received_at"),
)

# The payload of a dead letter is not kept: it may hold a child's details.
dead_letters = Table(
    "console_dead_letters",
    metadata,
    Column("message_id", String(300), primary_key=True),
    Column("dlq_topic", String(200), nullable=False),
    Column("topic", String(200), nullable=False),
    Column("consumer", String(100), nullable=False),
    Column("error", String(2000), nullable=False),
    Column("failed_at", UtcDateTime(), nullable=False),
    Column("kafka_partition", Integer, nullable=True),
    Column("kafka_offset", BigInteger, nullable=True),
    Column("key", Text, nullable=True),
    Index("ix_console_dead_letters_failed", "failed_at"),
)

# Acknowledgement links used (DESIGN §7): one row per alert makes each link single-use.
# Recipients' answers from the acknowledgement page (``alert-answers``): the console is
# their producer and keeps each once. ``information`` is the recipient's own words for
# the police: shown on the signed-in episode and child pages only.
alert_answers = Table(
    "console_alert_answers",
    metadata,
    Column("message_id", String(64), primary_key=True),
    Column("alert_id", String(64), nullable=False),
    Column("episode_key", String(300), nullable=False),
    Column("recipient_code", String(100), nullable=False),
    Column("recipient_name", String(300), nullable=True),
    Column("answer", String(20), nullable=False),
    Column("information", Text, nullable=True),
    Column("answered_at", UtcDateTime(), nullable=False),
    Index("ix_console_alert_answers_episode", "episode_key", "answered_at"),
)

acknowledgements = Table(
    "console_acknowledgements",
    metadata,
    Column("alert_id", String(64), primary_key=True),
    Column("acknowledged_at", UtcDateTime(), nullable=False),
)


# Console accounts (DESIGN §8): a password hash (Argon2id), never the password.
users = Table(
    "console_users",
    metadata,
    Column("username", String(63), primary_key=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("la_code", String(9), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("disabled_at", UtcDateTime(), nullable=True),
)

# Signed-in sessions: the cookie holds a random token, the table only its SHA-256, so a
# copy of the database signs nobody in. Each session has its own CSRF token.
sessions = Table(
    "console_sessions",
    metadata,
    Column("token_digest", String(64), primary_key=True),
    Column("username", String(63), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=False),
    Index("ix_console_sessions_username", "username"),
)

# Every view of a child's record and every export (DESIGN §8): who, what, when. Rows
# are only ever added, each chained to the one before (services/runtime/audit_chain.py);
# the admin's audit page reads them, retention removes the oldest.
audit = Table(
    "console_audit",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", UtcDateTime(), nullable=False),
    Column("username", String(63), nullable=False),
    Column("role", String(20), nullable=False),
    Column("action", String(40), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("detail", String(500), nullable=True),
    *chain_columns("console_audit"),
    Index("ix_console_audit_at", "at"),
    # A subject access request finds a child's entries by subject.
    Index("ix_console_audit_subject", "subject"),
)
audit_chains = chain_heads(metadata, "console")

messaging = messaging_tables(metadata, "console")

"""What reached the console from outside its own pages: ingest's rejects, dead
letters, and the recipients' acknowledgements and answers by their links."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from services.console.tables.metadata import metadata
from services.runtime.database import UtcDateTime

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

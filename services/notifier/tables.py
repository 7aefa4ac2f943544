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
    false,
)

from services.runtime.audit_chain import chain_columns, chain_heads
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
    # Escalation (DESIGN §6): unacknowledged at ``ack_due_at``, the next step of the chain
    # (services/notifier/escalation.py) is told; ``escalation_level`` is the last step.
    Column("ack_due_at", UtcDateTime(), nullable=True),
    Column("escalation_level", Integer, nullable=False, default=0, server_default="0"),
    Column("escalated_at", UtcDateTime(), nullable=True),
    # The responsible local authority, from the request: the chain's last step.
    Column("authority_code", String(32), nullable=True),
    Column("authority_name", String(300), nullable=True),
    Column("authority_email", String(320), nullable=True),
    # An alert the notifier raised itself: the alert it escalates ("" for none) or the
    # RHI task it reminds about; who did not acknowledge; when the interview is due.
    Column("parent_alert_id", String(64), nullable=False, default="", server_default=""),
    Column("task_id", String(64), nullable=True),
    Column("about_recipient_name", String(300), nullable=True),
    Column("respond_by", UtcDateTime(), nullable=True),
    # High risk or exploitation (shorter deadlines, "URGENT" subject); the NHS number on
    # a GP practice's alert; the recipient's out-of-hours team (a local authority).
    Column("urgent", Boolean, nullable=False, default=False, server_default=false()),
    Column("child_nhs_number", String(10), nullable=True),
    Column("recipient_out_of_hours_email", String(320), nullable=True),
    # The force's own address in the directory: answers go there when the event named
    # no police contact email.
    Column("police_force_email", String(320), nullable=True),
    # The recipient's answer (acknowledgement page); on an ``answer`` alert to the police,
    # the answer it carries, with the recipient's information.
    Column("answer", String(32), nullable=True),
    Column("answer_information", Text, nullable=True),
    Column("answered_at", UtcDateTime(), nullable=True),
    # On a withdrawal notice: the earlier alerts to this organisation it asks to delete
    # (alert ids, space-separated).
    Column("about_alert_ids", Text, nullable=True),
    # The same facts under another id would still be one alert too many.
    UniqueConstraint(
        "event_message_id",
        "recipient_code",
        "kind",
        "parent_alert_id",
        name="uq_notifier_alerts_facts",
    ),
    Index("ix_notifier_alerts_due", "state", "due_at"),
    Index("ix_notifier_alerts_ack_due", "ack_due_at"),
    Index("ix_notifier_alerts_parent", "parent_alert_id"),
    Index("ix_notifier_alerts_task", "task_id"),
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
    Column("reminder_due_at", UtcDateTime(), nullable=True),
    Column("reminded_at", UtcDateTime(), nullable=True),
    Column("escalated_at", UtcDateTime(), nullable=True),
    Index("ix_notifier_rhi_tasks_due", "state", "due_at"),
    Index("ix_notifier_rhi_tasks_authority", "authority_code", "state"),
    Index("ix_notifier_rhi_tasks_child", "authority_code", "child_date_of_birth"),
)

messaging = messaging_tables(metadata, "notifier")

# What each sent alert disclosed (issue 6): to whom, when, under which policy rule, and
# which fields of the child's record (their names, never the values). A subject access
# request finds a child's entries by episode (``child_links``: the router's child_id,
# issue 20); ``child_key`` is the hash of names and date of birth that entries made
# before notifier migration 0006 carry (None since). Append-only and chained
# (services/runtime/audit_chain.py); retention removes the oldest.
disclosures = Table(
    "notifier_disclosures",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", UtcDateTime(), nullable=False),
    Column("alert_id", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("recipient_code", String(32), nullable=False),
    Column("recipient_kind", String(32), nullable=False),
    Column("recipient_name", String(300), nullable=False),
    Column("recipient_email", String(320), nullable=False),
    Column("policy_rule", String(100), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("fields", String(500), nullable=False),
    Column("child_key", String(64), nullable=True),
    Column("force_code", String(8), nullable=False),
    Column("episode_ref", String(64), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("smtp_message_id", String(300), nullable=True),
    *chain_columns("notifier_disclosures"),
    Index("ix_notifier_disclosures_child", "child_key"),
    Index("ix_notifier_disclosures_at", "at"),
    Index("ix_notifier_disclosures_episode", "force_code", "episode_ref"),
)
audit_chains = chain_heads(metadata, "notifier")

# MSET panel actions to chase (panel-actions.v1, issue 20): an open one is due a notice
# to its owner organisation the morning after it falls due (services/notifier/
# panel_actions.py). No action text and no child: ids, dates and the owner only.
panel_actions = Table(
    "notifier_panel_actions",
    metadata,
    Column("action_id", String(64), primary_key=True),
    Column("meeting_on", Date, nullable=False),
    Column("owner_code", String(32), nullable=False),
    Column("owner_name", String(300), nullable=False),
    Column("due_on", Date, nullable=False),
    Column("state", String(10), nullable=False),  # open | done
    Column("revision", Integer, nullable=False),
    Column("notice_due_at", UtcDateTime(), nullable=True),
    Column("noticed_at", UtcDateTime(), nullable=True),
    Column("notice_to", String(320), nullable=True),
    Column("claimed_until", UtcDateTime(), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_notifier_panel_actions_due", "notice_due_at"),
)

# Which child each episode belongs to (issue 20): the router's child-identities.v1 (the
# highest revision wins), or, until it arrives, the child_id an alert or task names
# (revision 0). Disclosures and open RHI tasks are found by it.
child_links = Table(
    "notifier_child_links",
    metadata,
    Column("force_code", String(8), primary_key=True),
    Column("episode_ref", String(64), primary_key=True),
    Column("child_id", String(36), nullable=False),
    Column("revision", Integer, nullable=False),
    Index("ix_notifier_child_links_child", "child_id"),
)

# Dead letters on the routing path (episode-events, alerts-requested, rhi-tasks-requested)
# for the operations notices (services/notifier/operations.py): where and why, never the
# payload. ``resolved_at`` is set once `relay dlq retry` has recorded the letter sent back;
# ``topic`` is None while only that record has been read (the letter comes later).
dead_letters = Table(
    "notifier_dead_letters",
    metadata,
    Column("letter_id", String(200), primary_key=True),  # <topic>.dlq:<partition>:<offset>
    Column("topic", String(100), nullable=True),
    Column("consumer", String(32), nullable=True),
    Column("reason", Text, nullable=True),
    Column("failed_at", UtcDateTime(), nullable=True),
    Column("seen_at", UtcDateTime(), nullable=False),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("notices_sent", Integer, nullable=False, default=0, server_default="0"),
    Column("notice_due_at", UtcDateTime(), nullable=True),
    Column("last_notice_at", UtcDateTime(), nullable=True),
    # A copy of the notifier sending the notice holds it until then (copies share the table).
    Column("claimed_until", UtcDateTime(), nullable=True),
    Index("ix_notifier_dead_letters_due", "notice_due_at"),
)

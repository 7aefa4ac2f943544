"""The episodes, their events, alerts and return home interview tasks as the topics
say, and which child each episode belongs to."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, Index, Integer, String, Table, Text

from services.console.tables.metadata import metadata
from services.runtime.database import UtcDateTime

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
    # links between children). ``child_id`` is the router's (issue 20): it groups a
    # child's episodes, from console_child_links (or, until the router's link arrives,
    # from the episode's alerts and tasks).
    Column("child_id", String(36), nullable=True),
    Column("given_name", String(100), nullable=True),
    Column("family_name", String(100), nullable=True),
    Column("date_of_birth", Date, nullable=True),
    Column("responsible_la", String(9), nullable=True),
    Column("risk_factors", String(500), nullable=True),  # every event's, comma-separated
    # The police withdrew the episode (raised in error or for the wrong child): it stays
    # for the audit and the stream, and is left out of the watchlist, pack and figures.
    Column("withdrawn_at", UtcDateTime(), nullable=True),
    Column("withdrawn_reason", String(500), nullable=True),
    # The responsible local authority as the router decided it (the ``authority`` of
    # the episode's alerts and tasks; ``responsible_la`` is only what the police sent),
    # and, for a looked-after child placed elsewhere, the authority where the child
    # lives (the router's ``la-resident`` alert): the returns' figures (issue 21).
    Column("authority_code", String(9), nullable=True),
    Column("resident_la", String(9), nullable=True),
    # For the partnership's figures (issue 20, services/console/analytics.py): the sex and
    # the home postcode district (outward code only, never the postcode) the police gave,
    # where the child went missing from (the first event that says), and the postcode
    # district where the child was found (the latest found or returned event's).
    Column("sex", String(20), nullable=True),
    Column("home_district", String(4), nullable=True),
    Column("missing_from", String(20), nullable=True),
    Column("found_district", String(4), nullable=True),
    # When it was reported, in local time, and the child's age then: the figures count
    # these as they are (projections.reported_columns), 100,000 episodes in well under
    # a second, with no time zone arithmetic per row.
    Column("reported_month", String(7), nullable=True),  # YYYY-MM
    Column("reported_day", Integer, nullable=True),  # days since 1970-01-01
    Column("reported_hour", Integer, nullable=True),
    Column("reported_weekday", Integer, nullable=True),  # 0 = Monday
    Column("age_at_report", Integer, nullable=True),
    Column("exploitation", Boolean, nullable=True),
    Index("ix_console_episodes_latest", "latest_event_at"),
    Index("ix_console_episodes_child", "child_id", "latest_event_at"),
    Index("ix_console_episodes_la", "responsible_la", "latest_event_at"),
    Index("ix_console_episodes_authority", "authority_code", "first_event_at"),
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
    Column("given_name", String(100), nullable=True),
    Column("family_name", String(100), nullable=True),
    Column("date_of_birth", Date, nullable=True),
    Column("responsible_la", String(9), nullable=True),
    Column("risk_factors", String(500), nullable=True),
    Column("location_postcode", String(8), nullable=True),
    Column("location_description", String(500), nullable=True),
    Column("found_with", Text, nullable=True),  # JSON: [{given_name, family_name, date_of_birth}]
    Column("sex", String(20), nullable=True),
    Column("home_district", String(4), nullable=True),  # the outward code of the home postcode
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
    Index("ix_console_rhi_tasks_authority", "authority_code", "returned_at"),
)

# The return home interview as recorded (``rhi-task-outcomes.v2``, issue 21), one per
# task: the first recorded stands, as the notifier keeps the first outcome. The console
# writes it when its form records one and reads the topic for those recorded with
# ``relay tasks complete``. ``whereabouts``, ``with_whom`` and ``child_words`` are
# restricted: the task page shows them to the child's authority and the MSET chair only,
# never the figures or an export. Lists are comma-separated slugs.
rhi_records = Table(
    "console_rhi_records",
    metadata,
    Column("task_id", String(200), primary_key=True),
    Column("message_id", String(200), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("reason", Text, nullable=True),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("offered_at", UtcDateTime(), nullable=True),
    Column("offer_method", String(20), nullable=True),
    Column("offer_accepted", Boolean, nullable=True),
    Column("interviewed_at", UtcDateTime(), nullable=True),
    Column("interviewer_name", String(200), nullable=True),
    Column("interviewer_organisation", String(200), nullable=True),
    Column("interviewer_independent", Boolean, nullable=True),
    Column("whereabouts", Text, nullable=True),
    Column("with_whom", Text, nullable=True),
    Column("push_factors", String(2000), nullable=True),
    Column("pull_factors", String(2000), nullable=True),
    Column("harm_disclosed", Boolean, nullable=True),
    Column("harm_kinds", String(500), nullable=True),
    Column("child_words", Text, nullable=True),
    Column("referrals", String(500), nullable=True),
    Column("shared_with_police", Boolean, nullable=True),
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
    # The roll record a ``match`` decision chose (for an authority's own roll: the
    # ``CHILD`` of its SSDA903 return).
    Column("roll_record_id", String(128), nullable=True),
    # ``roll-record`` (who is the child on an organisation's roll) or ``same-child`` (is
    # the episode's child, ``child_id``, one of the earlier children in ``candidates``).
    Column("question", String(20), nullable=True),
    Column("child_id", String(36), nullable=True),
)

# Which child each episode belongs to, as the router last said (child-identities.v1):
# the highest ``revision`` wins, whatever order the links arrive in. The episode row's
# ``child_id`` is kept equal to it.
child_links = Table(
    "console_child_links",
    metadata,
    Column("episode_key", String(300), primary_key=True),
    Column("child_id", String(36), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("basis", String(20), nullable=False),
    Column("previous_child_id", String(36), nullable=True),
    Column("at", UtcDateTime(), nullable=False),
    Index("ix_console_child_links_child", "child_id"),
)

# A child merged away (all its episodes moved): where its page now is.
child_merges = Table(
    "console_child_merges",
    metadata,
    Column("child_id", String(36), primary_key=True),
    Column("into_child_id", String(36), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
)

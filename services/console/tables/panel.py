"""The MSET panel (issue 20): its meetings, what each decided per child, its actions."""

from __future__ import annotations

from sqlalchemy import Column, Date, Index, Integer, String, Table, Text

from services.console.tables.metadata import metadata
from services.runtime.database import UtcDateTime

# The MSET panel's meetings (issue 20): when, who chaired, which organisations came.
panel_meetings = Table(
    "console_panel_meetings",
    metadata,
    Column("meeting_id", String(36), primary_key=True),
    Column("held_on", Date, nullable=False),
    Column("chair", String(200), nullable=False),
    Column("organisations", Text, nullable=False),  # JSON: [organisation code, ...]
    Column("created_by", String(63), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_console_panel_meetings_held", "held_on"),
)

# What a meeting decided about one child: the decision, the panel's own view of the
# risk, and when it looks at the child again. One per child per meeting (the latest
# record replaces an earlier one the same meeting).
panel_reviews = Table(
    "console_panel_reviews",
    metadata,
    Column("review_id", String(64), primary_key=True),  # derived (meeting, child)
    Column("meeting_id", String(36), nullable=False),
    Column("child_id", String(36), nullable=False),
    Column("decision", Text, nullable=False),
    Column("risk_view", String(20), nullable=False),
    Column("next_review_on", Date, nullable=True),
    Column("recorded_by", String(63), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Index("ix_console_panel_reviews_child", "child_id", "recorded_at"),
    Index("ix_console_panel_reviews_meeting", "meeting_id"),
)

# Actions the panel gives an organisation about a child: open until marked done; an
# open action past its due date is overdue (shown to the chair, and emailed to the
# owner organisation by the notifier through panel-actions.v1).
panel_actions = Table(
    "console_panel_actions",
    metadata,
    Column("action_id", String(36), primary_key=True),
    Column("meeting_id", String(36), nullable=False),
    Column("child_id", String(36), nullable=False),
    Column("text", Text, nullable=False),
    Column("owner_code", String(20), nullable=False),
    Column("due_on", Date, nullable=False),
    Column("state", String(10), nullable=False),  # open | done
    Column("revision", Integer, nullable=False),  # panel-actions.v1 carries it
    Column("created_by", String(63), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("done_by", String(63), nullable=True),
    Column("done_at", UtcDateTime(), nullable=True),
    Index("ix_console_panel_actions_due", "state", "due_on"),
    Index("ix_console_panel_actions_child", "child_id"),
)

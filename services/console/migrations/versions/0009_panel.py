"""the MSET panel's meetings, decisions and actions (issue 20)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 13:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.runtime.database import UtcDateTime

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_panel_meetings",
        sa.Column("meeting_id", sa.String(length=36), primary_key=True),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("chair", sa.String(length=200), nullable=False),
        sa.Column("organisations", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=63), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_console_panel_meetings_held", "console_panel_meetings", ["held_on"])
    op.create_table(
        "console_panel_reviews",
        sa.Column("review_id", sa.String(length=64), primary_key=True),
        sa.Column("meeting_id", sa.String(length=36), nullable=False),
        sa.Column("child_id", sa.String(length=36), nullable=False),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("risk_view", sa.String(length=20), nullable=False),
        sa.Column("next_review_on", sa.Date(), nullable=True),
        sa.Column("recorded_by", sa.String(length=63), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
    )
    op.create_index(
        "ix_console_panel_reviews_child", "console_panel_reviews", ["child_id", "recorded_at"]
    )
    op.create_index("ix_console_panel_reviews_meeting", "console_panel_reviews", ["meeting_id"])
    op.create_table(
        "console_panel_actions",
        sa.Column("action_id", sa.String(length=36), primary_key=True),
        sa.Column("meeting_id", sa.String(length=36), nullable=False),
        sa.Column("child_id", sa.String(length=36), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("owner_code", sa.String(length=20), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=63), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("done_by", sa.String(length=63), nullable=True),
        sa.Column("done_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_console_panel_actions_due", "console_panel_actions", ["state", "due_on"])
    op.create_index("ix_console_panel_actions_child", "console_panel_actions", ["child_id"])


def downgrade() -> None:
    op.drop_index("ix_console_panel_actions_child", table_name="console_panel_actions")
    op.drop_index("ix_console_panel_actions_due", table_name="console_panel_actions")
    op.drop_table("console_panel_actions")
    op.drop_index("ix_console_panel_reviews_meeting", table_name="console_panel_reviews")
    op.drop_index("ix_console_panel_reviews_child", table_name="console_panel_reviews")
    op.drop_table("console_panel_reviews")
    op.drop_index("ix_console_panel_meetings_held", table_name="console_panel_meetings")
    op.drop_table("console_panel_meetings")

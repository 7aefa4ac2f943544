"""return home interview records; the authority of each episode; decided roll records

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 09:00:00

Episodes read before this revision take their authority from ``responsible_la`` (what
the police sent, or the authority of the alert that made the row); later alerts and
tasks set the router's decision.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.runtime.database import UtcDateTime

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("console_episodes") as batch:
        batch.add_column(sa.Column("authority_code", sa.String(length=9), nullable=True))
        batch.add_column(sa.Column("resident_la", sa.String(length=9), nullable=True))
    op.execute("UPDATE console_episodes SET authority_code = responsible_la")
    op.create_index(
        "ix_console_episodes_authority", "console_episodes", ["authority_code", "first_event_at"]
    )
    op.create_index(
        "ix_console_rhi_tasks_authority", "console_rhi_tasks", ["authority_code", "returned_at"]
    )
    with op.batch_alter_table("console_identity_reviews") as batch:
        batch.add_column(sa.Column("roll_record_id", sa.String(length=128), nullable=True))
    op.create_table(
        "console_rhi_records",
        sa.Column("task_id", sa.String(length=200), primary_key=True),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("offered_at", UtcDateTime(), nullable=True),
        sa.Column("offer_method", sa.String(length=20), nullable=True),
        sa.Column("offer_accepted", sa.Boolean(), nullable=True),
        sa.Column("interviewed_at", UtcDateTime(), nullable=True),
        sa.Column("interviewer_name", sa.String(length=200), nullable=True),
        sa.Column("interviewer_organisation", sa.String(length=200), nullable=True),
        sa.Column("interviewer_independent", sa.Boolean(), nullable=True),
        sa.Column("whereabouts", sa.Text(), nullable=True),
        sa.Column("with_whom", sa.Text(), nullable=True),
        sa.Column("push_factors", sa.String(length=2000), nullable=True),
        sa.Column("pull_factors", sa.String(length=2000), nullable=True),
        sa.Column("harm_disclosed", sa.Boolean(), nullable=True),
        sa.Column("harm_kinds", sa.String(length=500), nullable=True),
        sa.Column("child_words", sa.Text(), nullable=True),
        sa.Column("referrals", sa.String(length=500), nullable=True),
        sa.Column("shared_with_police", sa.Boolean(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("console_rhi_records")
    with op.batch_alter_table("console_identity_reviews") as batch:
        batch.drop_column("roll_record_id")
    op.drop_index("ix_console_rhi_tasks_authority", table_name="console_rhi_tasks")
    op.drop_index("ix_console_episodes_authority", table_name="console_episodes")
    with op.batch_alter_table("console_episodes") as batch:
        batch.drop_column("resident_la")
        batch.drop_column("authority_code")

"""withdrawn episodes; recipients' answers; the roll record an alert was matched on

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 06:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.runtime.database import UtcDateTime

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("console_episode_events") as batch:
        batch.add_column(sa.Column("reason", sa.String(length=500), nullable=True))
    with op.batch_alter_table("console_episodes") as batch:
        batch.add_column(sa.Column("withdrawn_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("withdrawn_reason", sa.String(length=500), nullable=True))
    with op.batch_alter_table("console_alerts") as batch:
        batch.add_column(sa.Column("roll_record_id", sa.String(length=128), nullable=True))
    op.create_table(
        "console_alert_answers",
        sa.Column("message_id", sa.String(length=64), primary_key=True),
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("episode_key", sa.String(length=300), nullable=False),
        sa.Column("recipient_code", sa.String(length=100), nullable=False),
        sa.Column("recipient_name", sa.String(length=300), nullable=True),
        sa.Column("answer", sa.String(length=20), nullable=False),
        sa.Column("information", sa.Text(), nullable=True),
        sa.Column("answered_at", UtcDateTime(), nullable=False),
    )
    op.create_index(
        "ix_console_alert_answers_episode", "console_alert_answers", ["episode_key", "answered_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_console_alert_answers_episode", table_name="console_alert_answers")
    op.drop_table("console_alert_answers")
    with op.batch_alter_table("console_alerts") as batch:
        batch.drop_column("roll_record_id")
    with op.batch_alter_table("console_episodes") as batch:
        batch.drop_column("withdrawn_reason")
        batch.drop_column("withdrawn_at")
    with op.batch_alter_table("console_episode_events") as batch:
        batch.drop_column("reason")

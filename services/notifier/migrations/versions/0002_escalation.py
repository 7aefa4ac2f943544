"""escalation chains, RHI reminders

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 00:50:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.runtime.database import UtcDateTime

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifier_alerts") as batch:
        batch.add_column(sa.Column("ack_due_at", UtcDateTime(), nullable=True))
        batch.add_column(
            sa.Column("escalation_level", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("escalated_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("authority_code", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("authority_name", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("authority_email", sa.String(length=320), nullable=True))
        batch.add_column(
            sa.Column("parent_alert_id", sa.String(length=64), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("task_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("about_recipient_name", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("respond_by", UtcDateTime(), nullable=True))
        batch.drop_constraint("uq_notifier_alerts_facts", type_="unique")
        batch.create_unique_constraint(
            "uq_notifier_alerts_facts",
            ["event_message_id", "recipient_code", "kind", "parent_alert_id"],
        )
        batch.create_index("ix_notifier_alerts_ack_due", ["ack_due_at"])
        batch.create_index("ix_notifier_alerts_parent", ["parent_alert_id"])
        batch.create_index("ix_notifier_alerts_task", ["task_id"])
    with op.batch_alter_table("notifier_rhi_tasks") as batch:
        batch.add_column(sa.Column("reminder_due_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("reminded_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("escalated_at", UtcDateTime(), nullable=True))
        batch.create_index(
            "ix_notifier_rhi_tasks_child", ["authority_code", "child_date_of_birth"]
        )


def downgrade() -> None:
    with op.batch_alter_table("notifier_rhi_tasks") as batch:
        batch.drop_index("ix_notifier_rhi_tasks_child")
        batch.drop_column("escalated_at")
        batch.drop_column("reminded_at")
        batch.drop_column("reminder_due_at")
    with op.batch_alter_table("notifier_alerts") as batch:
        batch.drop_index("ix_notifier_alerts_task")
        batch.drop_index("ix_notifier_alerts_parent")
        batch.drop_index("ix_notifier_alerts_ack_due")
        batch.drop_constraint("uq_notifier_alerts_facts", type_="unique")
        batch.create_unique_constraint(
            "uq_notifier_alerts_facts", ["event_message_id", "recipient_code", "kind"]
        )
        for column in (
            "respond_by",
            "about_recipient_name",
            "task_id",
            "parent_alert_id",
            "authority_email",
            "authority_name",
            "authority_code",
            "escalated_at",
            "escalation_level",
            "ack_due_at",
        ):
            batch.drop_column(column)

"""MSET panel actions to chase (issue 20)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 13:00:00

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
    op.create_table(
        "notifier_panel_actions",
        sa.Column("action_id", sa.String(length=64), primary_key=True),
        sa.Column("meeting_on", sa.Date(), nullable=False),
        sa.Column("owner_code", sa.String(length=32), nullable=False),
        sa.Column("owner_name", sa.String(length=300), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("notice_due_at", UtcDateTime(), nullable=True),
        sa.Column("noticed_at", UtcDateTime(), nullable=True),
        sa.Column("notice_to", sa.String(length=320), nullable=True),
        sa.Column("claimed_until", UtcDateTime(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_notifier_panel_actions_due", "notifier_panel_actions", ["notice_due_at"])


def downgrade() -> None:
    op.drop_index("ix_notifier_panel_actions_due", table_name="notifier_panel_actions")
    op.drop_table("notifier_panel_actions")

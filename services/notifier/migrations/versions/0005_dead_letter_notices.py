"""dead letters on the routing path, for the operations notices (issue 17)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 09:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.runtime.database import UtcDateTime

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifier_dead_letters",
        sa.Column("letter_id", sa.String(length=200), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=True),
        sa.Column("consumer", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("failed_at", UtcDateTime(), nullable=True),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
        sa.Column("resolved_at", UtcDateTime(), nullable=True),
        sa.Column("notices_sent", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("notice_due_at", UtcDateTime(), nullable=True),
        sa.Column("last_notice_at", UtcDateTime(), nullable=True),
        sa.Column("claimed_until", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("letter_id"),
    )
    op.create_index("ix_notifier_dead_letters_due", "notifier_dead_letters", ["notice_due_at"])


def downgrade() -> None:
    op.drop_index("ix_notifier_dead_letters_due", table_name="notifier_dead_letters")
    op.drop_table("notifier_dead_letters")

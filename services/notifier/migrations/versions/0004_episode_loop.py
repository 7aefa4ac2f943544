"""the episode drives its alerts: urgency, answers, police force address, NHS number

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 06:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.runtime.database import UtcDateTime

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ALERT_COLUMNS: tuple[sa.Column[object], ...] = (
    sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("child_nhs_number", sa.String(length=10), nullable=True),
    sa.Column("recipient_out_of_hours_email", sa.String(length=320), nullable=True),
    sa.Column("police_force_email", sa.String(length=320), nullable=True),
    sa.Column("answer", sa.String(length=32), nullable=True),
    sa.Column("answer_information", sa.Text(), nullable=True),
    sa.Column("answered_at", UtcDateTime(), nullable=True),
    sa.Column("about_alert_ids", sa.Text(), nullable=True),
)


def upgrade() -> None:
    with op.batch_alter_table("notifier_alerts") as batch:
        for column in _ALERT_COLUMNS:
            batch.add_column(column.copy())


def downgrade() -> None:
    with op.batch_alter_table("notifier_alerts") as batch:
        for column in reversed(_ALERT_COLUMNS):
            batch.drop_column(column.name)

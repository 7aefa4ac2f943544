"""acknowledgement links used

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 01:00:00

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
    op.create_table(
        "console_acknowledgements",
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("acknowledged_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("alert_id"),
    )


def downgrade() -> None:
    op.drop_table("console_acknowledgements")

"""local authorities' out-of-hours address; disputed roll matches

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


def upgrade() -> None:
    with op.batch_alter_table("router_organisations") as batch:
        batch.add_column(sa.Column("out_of_hours_email", sa.String(length=254), nullable=True))
    op.create_table(
        "router_disputes",
        sa.Column("review_id", sa.String(length=64), primary_key=True),
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("force_code", sa.String(length=2), nullable=False),
        sa.Column("episode_ref", sa.String(length=64), nullable=False),
        sa.Column("org_code", sa.String(length=20), nullable=False),
        sa.Column("roll_record_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index(
        "ix_router_disputes_episode",
        "router_disputes",
        ["force_code", "episode_ref", "org_code"],
    )


def downgrade() -> None:
    op.drop_index("ix_router_disputes_episode", table_name="router_disputes")
    op.drop_table("router_disputes")
    with op.batch_alter_table("router_organisations") as batch:
        batch.drop_column("out_of_hours_email")

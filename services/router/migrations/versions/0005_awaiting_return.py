"""RHI tasks waiting for a return (policy rhi_trigger = "found")

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
        "router_awaiting_return",
        sa.Column("force_code", sa.String(length=2), primary_key=True),
        sa.Column("episode_ref", sa.String(length=64), primary_key=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("open_at", UtcDateTime(), nullable=True),
        sa.Column("task_id", sa.String(length=64), nullable=True),
        sa.Column("task", sa.JSON(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("settled_at", UtcDateTime(), nullable=True),
    )
    op.create_index(
        "ix_router_awaiting_return_due", "router_awaiting_return", ["state", "open_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_router_awaiting_return_due", table_name="router_awaiting_return")
    op.drop_table("router_awaiting_return")

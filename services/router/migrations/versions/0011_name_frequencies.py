"""the live roll's name frequencies

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 05:40:00

Each given and family name's share of the router's whole roll, for names held by at
least five rows, worked out again by every roll import in its own transaction (issue 22;
services/router/frequency_store.py). The router weighs an exact name by these shares
instead of the model file's once the roll has 1,000 rows. Empty until the next roll
import: until then the model file's shares are used, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.runtime.database import UtcDateTime

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "router_name_frequencies",
        sa.Column("field", sa.String(20), primary_key=True),
        sa.Column("roll_rows", sa.BigInteger(), nullable=False),
        sa.Column("min_count", sa.Integer(), nullable=False),
        sa.Column("minimum", sa.Float(), nullable=False),
        sa.Column("shares", sa.JSON(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("router_name_frequencies")

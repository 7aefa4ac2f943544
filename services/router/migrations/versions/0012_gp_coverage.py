"""how completely the GP lists hold the school children

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 09:00:00

One row: of the distinct children on school rolls, how many are on a GP practice's
list too, worked out again by every roll import in its own transaction
(services/router/gp_coverage_store.py). The model file's rule
``other_given_name_at_home: auto`` matches only where that share is high enough
(services/router/gp_coverage.py). Empty until the next roll import: until then
``auto`` means review.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.runtime.database import UtcDateTime

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "router_gp_coverage",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("school_children", sa.BigInteger(), nullable=False),
        sa.Column("on_gp_list", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("router_gp_coverage")

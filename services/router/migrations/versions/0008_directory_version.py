"""the directory's version: moved on by every organisations import

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 09:00:00

The router keeps the organisations it routes to (every local authority, MSET panel and
police force, and the matched ones it has looked up) in memory and reads them again only
when this number has changed (issue 18; services/router/directory_cache.py). Imports
move it on in their own transaction.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "router_directory_version",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("router_directory_version")

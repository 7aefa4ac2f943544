"""an index of the person index's UPNs

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 01:40:00

A new episode with no other evidence looks for children by its blocking keys or its
UPN, OR'd (person_evidence._similar). With no index on the UPN, SQLite and PostgreSQL
could not search each branch through its own index and read the whole person index
instead, once a new episode, more with every episode kept (2.3 ms at 20,000 episodes).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHERE = "upn IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ix_router_person_episodes_upn",
        "router_person_episodes",
        ["upn"],
        sqlite_where=sa.text(_WHERE),
        postgresql_where=sa.text(_WHERE),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_router_person_episodes_upn",
        table_name="router_person_episodes",
        sqlite_where=sa.text(_WHERE),
        postgresql_where=sa.text(_WHERE),
    )

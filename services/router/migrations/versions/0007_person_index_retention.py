"""the person index under retention: when each episode last had an event

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 09:00:00

Retention (services/router/retention.py) removes an episode's record from the person
index once its last event is older than ``accepted_events_days``, as the console does
with its episodes. Rows of before this revision take the time they last changed.
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
    op.add_column(
        "router_person_episodes", sa.Column("last_event_at", UtcDateTime(), nullable=True)
    )
    op.execute("UPDATE router_person_episodes SET last_event_at = updated_at")
    op.create_index(
        "ix_router_person_episodes_last_event", "router_person_episodes", ["last_event_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_router_person_episodes_last_event", table_name="router_person_episodes")
    with op.batch_alter_table("router_person_episodes") as batch:
        batch.drop_column("last_event_at")

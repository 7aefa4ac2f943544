"""who knows about an episode: alerts and answers, for GET /v1/episodes/…

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 12:00:00

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
        "ingest_episode_alerts",
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("force_code", sa.String(length=8), nullable=False),
        sa.Column("episode_ref", sa.String(length=64), nullable=False),
        sa.Column("recipient_code", sa.String(length=32), nullable=False),
        sa.Column("recipient_kind", sa.String(length=32), nullable=False),
        sa.Column("recipient_name", sa.String(length=300), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("state_at", UtcDateTime(), nullable=False),
        sa.Column("first_at", UtcDateTime(), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=True),
        sa.Column("acknowledged_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("alert_id"),
    )
    op.create_index(
        "ix_ingest_episode_alerts_episode",
        "ingest_episode_alerts",
        ["force_code", "episode_ref"],
    )
    op.create_index("ix_ingest_episode_alerts_state_at", "ingest_episode_alerts", ["state_at"])
    op.create_table(
        "ingest_alert_answers",
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("force_code", sa.String(length=8), nullable=False),
        sa.Column("episode_ref", sa.String(length=64), nullable=False),
        sa.Column("recipient_code", sa.String(length=32), nullable=False),
        sa.Column("recipient_kind", sa.String(length=32), nullable=False),
        sa.Column("recipient_name", sa.String(length=300), nullable=False),
        sa.Column("answer", sa.String(length=32), nullable=False),
        sa.Column("answered_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("alert_id"),
    )
    op.create_index(
        "ix_ingest_alert_answers_episode", "ingest_alert_answers", ["force_code", "episode_ref"]
    )
    op.create_index("ix_ingest_alert_answers_answered_at", "ingest_alert_answers", ["answered_at"])


def downgrade() -> None:
    op.drop_index("ix_ingest_alert_answers_answered_at", table_name="ingest_alert_answers")
    op.drop_index("ix_ingest_alert_answers_episode", table_name="ingest_alert_answers")
    op.drop_table("ingest_alert_answers")
    op.drop_index("ix_ingest_episode_alerts_state_at", table_name="ingest_episode_alerts")
    op.drop_index("ix_ingest_episode_alerts_episode", table_name="ingest_episode_alerts")
    op.drop_table("ingest_episode_alerts")

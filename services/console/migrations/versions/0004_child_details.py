"""who the child is, authority, risk factors, where found and with whom; the audit;
what an identity reviewer compares

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 11:30:00

Rows made before this stay without them (their pages show initials only); a replay of
the topics fills them.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from services.runtime.database import UtcDateTime

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHILD: tuple[tuple[str, sa.types.TypeEngine[Any]], ...] = (
    ("child_key", sa.String(length=64)),
    ("given_name", sa.String(length=100)),
    ("family_name", sa.String(length=100)),
    ("date_of_birth", sa.Date()),
    ("responsible_la", sa.String(length=9)),
    ("risk_factors", sa.String(length=500)),
)
_REVIEW: tuple[tuple[str, sa.types.TypeEngine[Any]], ...] = (
    ("org_code", sa.String(length=20)),
    ("child", sa.Text()),
    ("candidates", sa.Text()),
    ("decided_by", sa.String(length=200)),
)
_FOUND: tuple[tuple[str, sa.types.TypeEngine[Any]], ...] = (
    ("location_postcode", sa.String(length=8)),
    ("location_description", sa.String(length=500)),
    ("found_with", sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table("console_episodes") as batch:
        for name, type_ in _CHILD:
            batch.add_column(sa.Column(name, type_, nullable=True))
    with op.batch_alter_table("console_episode_events") as batch:
        for name, type_ in (*_CHILD, *_FOUND):
            batch.add_column(sa.Column(name, type_, nullable=True))
    op.create_index(
        "ix_console_episodes_child", "console_episodes", ["child_key", "latest_event_at"]
    )
    op.create_index(
        "ix_console_episodes_la", "console_episodes", ["responsible_la", "latest_event_at"]
    )
    with op.batch_alter_table("console_identity_reviews") as batch:
        for name, type_ in _REVIEW:
            batch.add_column(sa.Column(name, type_, nullable=True))
    op.create_table(
        "console_audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("username", sa.String(length=63), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_console_audit_at", "console_audit", ["at"])


def downgrade() -> None:
    op.drop_index("ix_console_audit_at", table_name="console_audit")
    op.drop_table("console_audit")
    with op.batch_alter_table("console_identity_reviews") as batch:
        for name, _type in _REVIEW:
            batch.drop_column(name)
    op.drop_index("ix_console_episodes_la", table_name="console_episodes")
    op.drop_index("ix_console_episodes_child", table_name="console_episodes")
    with op.batch_alter_table("console_episode_events") as batch:
        for name, _type in (*_CHILD, *_FOUND):
            batch.drop_column(name)
    with op.batch_alter_table("console_episodes") as batch:
        for name, _type in _CHILD:
            batch.drop_column(name)

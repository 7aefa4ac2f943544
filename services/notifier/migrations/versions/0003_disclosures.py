"""what each sent alert disclosed, chained (services/runtime/audit_chain.py)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 13:40:00

Alerts sent before this have no entry (what they disclosed was not recorded then).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.runtime.database import UtcDateTime

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifier_disclosures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("alert_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("recipient_code", sa.String(length=32), nullable=False),
        sa.Column("recipient_kind", sa.String(length=32), nullable=False),
        sa.Column("recipient_name", sa.String(length=300), nullable=False),
        sa.Column("recipient_email", sa.String(length=320), nullable=False),
        sa.Column("policy_rule", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("fields", sa.String(length=500), nullable=False),
        sa.Column("child_key", sa.String(length=64), nullable=False),
        sa.Column("force_code", sa.String(length=8), nullable=False),
        sa.Column("episode_ref", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("smtp_message_id", sa.String(length=300), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("uq_notifier_disclosures_seq", "notifier_disclosures", ["seq"], unique=True)
    op.create_index("ix_notifier_disclosures_child", "notifier_disclosures", ["child_key"])
    op.create_index("ix_notifier_disclosures_at", "notifier_disclosures", ["at"])
    op.create_table(
        "notifier_audit_chains",
        sa.Column("chain", sa.String(length=63), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("first_prev_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain"),
    )
    op.bulk_insert(
        sa.table(
            "notifier_audit_chains",
            *(sa.column(n) for n in ("chain", "last_seq", "last_hash", "first_seq")),
            sa.column("first_prev_hash"),
        ),
        [
            {
                "chain": "notifier_disclosures",
                "last_seq": 0,
                "last_hash": "0" * 64,
                "first_seq": 1,
                "first_prev_hash": "0" * 64,
            }
        ],
    )


def downgrade() -> None:
    op.drop_table("notifier_audit_chains")
    op.drop_index("ix_notifier_disclosures_at", table_name="notifier_disclosures")
    op.drop_index("ix_notifier_disclosures_child", table_name="notifier_disclosures")
    op.drop_index("uq_notifier_disclosures_seq", table_name="notifier_disclosures")
    op.drop_table("notifier_disclosures")

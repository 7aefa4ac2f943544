"""the audit as a hash chain (services/runtime/audit_chain.py); entries found by subject

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 13:30:00

Entries made before this are chained in the order they were written (by id).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.runtime.audit_chain import GENESIS, entry_hash
from services.runtime.database import UtcDateTime

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CONTENT = ("at", "username", "role", "action", "subject", "detail")


def upgrade() -> None:
    with op.batch_alter_table("console_audit") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("entry_hash", sa.String(length=64), nullable=True))
    chains = op.create_table(
        "console_audit_chains",
        sa.Column("chain", sa.String(length=63), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("first_prev_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain"),
    )
    audit = sa.table(
        "console_audit",
        sa.column("id", sa.BigInteger()),
        sa.column("at", UtcDateTime()),
        *(sa.column(name, sa.String()) for name in _CONTENT[1:]),
        sa.column("seq", sa.BigInteger()),
        sa.column("prev_hash", sa.String()),
        sa.column("entry_hash", sa.String()),
    )
    bind = op.get_bind()
    prev, seq = GENESIS, 0
    for row in bind.execute(sa.select(audit).order_by(audit.c.id)).all():
        seq += 1
        digest = entry_hash(prev, seq, {name: getattr(row, name) for name in _CONTENT})
        bind.execute(
            audit.update()
            .where(audit.c.id == row.id)
            .values(seq=seq, prev_hash=prev, entry_hash=digest)
        )
        prev = digest
    op.bulk_insert(
        chains,
        [
            {
                "chain": "console_audit",
                "last_seq": seq,
                "last_hash": prev,
                "first_seq": 1,
                "first_prev_hash": GENESIS,
            }
        ],
    )
    with op.batch_alter_table("console_audit") as batch:
        batch.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("entry_hash", existing_type=sa.String(length=64), nullable=False)
        batch.create_index("uq_console_audit_seq", ["seq"], unique=True)
        batch.create_index("ix_console_audit_subject", ["subject"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("console_audit") as batch:
        batch.drop_index("ix_console_audit_subject")
        batch.drop_index("uq_console_audit_seq")
        batch.drop_column("entry_hash")
        batch.drop_column("prev_hash")
        batch.drop_column("seq")
    op.drop_table("console_audit_chains")

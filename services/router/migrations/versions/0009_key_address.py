"""blocking key: house number + street sound + town initial (blocking.address_key)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 22:30:00

Fills the key for rows already imported (in batches); a roll imported afterwards
carries it from the start. A police record with no postcode whose names and date are
mangled past the other keys still meets its household's rows (issue 22).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.router.blocking import address_key

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def _code(length: int) -> sa.types.TypeEngine[str]:
    """As tables._code: byte order on PostgreSQL (equality only)."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("router_roll") as batch:
        batch.add_column(sa.Column("key_address", _code(24), nullable=True))
    connection = op.get_bind()
    roll = sa.table(
        "router_roll",
        sa.column("id", sa.Integer),
        sa.column("address", sa.String),
        sa.column("key_address", sa.String),
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.select(roll.c.id, roll.c.address)
            .where(roll.c.id > last)
            .order_by(roll.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        keyed = [{"row_id": r.id, "key": address_key(r.address)} for r in rows]
        keyed = [k for k in keyed if k["key"] is not None]
        if keyed:
            connection.execute(
                sa.update(roll)
                .where(roll.c.id == sa.bindparam("row_id"))
                .values(key_address=sa.bindparam("key")),
                keyed,
            )
        last = rows[-1].id
    op.create_index(
        "ix_router_roll_key_address",
        "router_roll",
        ["key_address"],
        sqlite_where=sa.text("key_address IS NOT NULL"),
        postgresql_where=sa.text("key_address IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_router_roll_key_address",
        table_name="router_roll",
        sqlite_where=sa.text("key_address IS NOT NULL"),
        postgresql_where=sa.text("key_address IS NOT NULL"),
    )
    with op.batch_alter_table("router_roll") as batch:
        batch.drop_column("key_address")

"""blocking key: canonical given name + date of birth

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 01:50:00

Fills the key for rows already imported (in batches); a roll imported afterwards
carries it from the start.
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

from services.router.nicknames import canonical_given

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table("router_roll") as batch:
        batch.add_column(sa.Column("key_given_dob", sa.String(length=120), nullable=True))
    connection = op.get_bind()
    roll = sa.table(
        "router_roll",
        sa.column("id", sa.Integer),
        sa.column("given_name", sa.String),
        sa.column("date_of_birth", sa.Date),
        sa.column("key_given_dob", sa.String),
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.select(roll.c.id, roll.c.given_name, roll.c.date_of_birth)
            .where(roll.c.id > last)
            .order_by(roll.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        connection.execute(
            sa.update(roll)
            .where(roll.c.id == sa.bindparam("row_id"))
            .values(key_given_dob=sa.bindparam("key")),
            [
                {"row_id": r.id, "key": f"{canonical_given(r.given_name)}|{_iso(r.date_of_birth)}"}
                for r in rows
            ],
        )
        last = rows[-1].id
    op.create_index("ix_router_roll_key_given_dob", "router_roll", ["key_given_dob"])


def _iso(value: date | str) -> str:
    return value if isinstance(value, str) else value.isoformat()


def downgrade() -> None:
    op.drop_index("ix_router_roll_key_given_dob", table_name="router_roll")
    with op.batch_alter_table("router_roll") as batch:
        batch.drop_column("key_given_dob")

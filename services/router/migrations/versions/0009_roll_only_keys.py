"""blocking keys of the roll only: address (house number + street sound + town initial)
and initials + date of birth (blocking.address_key, blocking.initials_key)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 22:30:00

Fills both keys for rows already imported (in batches); a roll imported afterwards
carries them from the start. A police record with no postcode whose names and date are
mangled past the other keys still meets its household's rows, and one whose names are
both misspelt or cut short meets its row through their first letters (issue 22).
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

from services.router.blocking import address_key, initials_key

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000
_ADDRESS_WHERE = "key_address IS NOT NULL"


def _code(length: int) -> sa.types.TypeEngine[str]:
    """As tables._code: byte order on PostgreSQL (equality only)."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("router_roll") as batch:
        batch.add_column(sa.Column("key_address", _code(24), nullable=True))
        batch.add_column(sa.Column("key_initials_dob", _code(16), nullable=True))
    connection = op.get_bind()
    roll = sa.table(
        "router_roll",
        sa.column("id", sa.Integer),
        sa.column("given_name", sa.String),
        sa.column("family_name", sa.String),
        sa.column("date_of_birth", sa.Date),
        sa.column("address", sa.String),
        sa.column("key_address", sa.String),
        sa.column("key_initials_dob", sa.String),
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.select(
                roll.c.id, roll.c.given_name, roll.c.family_name, roll.c.date_of_birth, roll.c.address
            )
            .where(roll.c.id > last)
            .order_by(roll.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        connection.execute(
            sa.update(roll)
            .where(roll.c.id == sa.bindparam("row_id"))
            .values(key_address=sa.bindparam("b_address"), key_initials_dob=sa.bindparam("b_initials")),
            [
                {
                    "row_id": r.id,
                    "b_address": address_key(r.address),
                    "b_initials": initials_key(r.given_name, r.family_name, _iso(r.date_of_birth)),
                }
                for r in rows
            ],
        )
        last = rows[-1].id
    op.create_index("ix_router_roll_key_initials_dob", "router_roll", ["key_initials_dob"])
    op.create_index(
        "ix_router_roll_key_address",
        "router_roll",
        ["key_address"],
        sqlite_where=sa.text(_ADDRESS_WHERE),
        postgresql_where=sa.text(_ADDRESS_WHERE),
    )


def _iso(value: date | str) -> str:
    return value if isinstance(value, str) else value.isoformat()


def downgrade() -> None:
    op.drop_index(
        "ix_router_roll_key_address",
        table_name="router_roll",
        sqlite_where=sa.text(_ADDRESS_WHERE),
        postgresql_where=sa.text(_ADDRESS_WHERE),
    )
    op.drop_index("ix_router_roll_key_initials_dob", table_name="router_roll")
    with op.batch_alter_table("router_roll") as batch:
        batch.drop_column("key_initials_dob")
        batch.drop_column("key_address")

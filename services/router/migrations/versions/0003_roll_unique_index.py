"""roll: (org_code, record_id) unique as an index; byte-order keys on PostgreSQL

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 10:30:00

The unique constraint becomes a unique index of the same name, so that a bulk import
can drop it with the lookup indexes and build it once at the end (on SQLite a table's
constraint cannot be dropped: the table is copied without it). On PostgreSQL the
identifiers and blocking keys compare in byte order (``COLLATE "C"``): they are only
ever compared for equality, and a locale's collation makes their index builds several
times slower.
"""

import re
from collections.abc import Callable, Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "router_roll"
UNIQUE = "uq_router_roll_org_record"
_HEAD = re.compile(rf'^CREATE TABLE "?{TABLE}"? \(')
_CONSTRAINT = re.compile(rf",\s*CONSTRAINT {UNIQUE} UNIQUE \(org_code, record_id\)")
CODES = {
    "nhs_number": 10,
    "upn": 13,
    "key_family_dob": 80,
    "key_names": 140,
    "key_place": 20,
    "key_given_dob": 120,
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_copy(lambda ddl: _CONSTRAINT.sub("", ddl))
        op.create_index(UNIQUE, TABLE, ["org_code", "record_id"], unique=True)
        return
    op.drop_constraint(UNIQUE, TABLE, type_="unique")
    for column, length in CODES.items():
        op.execute(f'ALTER TABLE {TABLE} ALTER COLUMN {column} TYPE VARCHAR({length}) COLLATE "C"')
    op.create_index(UNIQUE, TABLE, ["org_code", "record_id"], unique=True)


def downgrade() -> None:
    op.drop_index(UNIQUE, table_name=TABLE)
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_copy(lambda ddl: ddl[: ddl.rindex(")")].rstrip() + f", \n\tCONSTRAINT {UNIQUE} UNIQUE (org_code, record_id)\n)")
        return
    for column, length in CODES.items():
        op.execute(f'ALTER TABLE {TABLE} ALTER COLUMN {column} TYPE VARCHAR({length}) COLLATE "default"')
    op.create_unique_constraint(UNIQUE, TABLE, ["org_code", "record_id"])


def _sqlite_copy(change: Callable[[str], str]) -> None:
    """SQLite: the roll copied into a table made by ``change`` of its DDL, its indexes
    made again as they were."""
    connection = op.get_bind()
    [ddl] = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
    ).scalars()
    indexes = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        (TABLE,),
    ).scalars().all()
    new = change(ddl)
    assert new != ddl, "the roll's table is not as the earlier migrations made it"
    op.execute(_HEAD.sub(f"CREATE TABLE {TABLE}_copy (", new, count=1))
    op.execute(f"INSERT INTO {TABLE}_copy SELECT * FROM {TABLE}")
    op.execute(f"DROP TABLE {TABLE}")
    op.execute(f"ALTER TABLE {TABLE}_copy RENAME TO {TABLE}")
    for index in indexes:
        op.execute(index)

"""which child each episode belongs to (issue 20); disclosures found by episode

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 12:00:00

Episodes alerted before this revision get the child id the console's migration 0008
derives from the same names-and-date-of-birth key (revision 0), so a subject access
request finds the same child in both; the router's links (child-identities.v1) then
replace them. Disclosures keep their ``child_key`` (it is part of each entry's hash);
new ones are found by episode.
"""

import hashlib
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from schemas.base import derived_id

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2000


def _folded(name: str) -> str:
    text = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in text if c.isalpha())


def _legacy_child_id(given: str, family: str, born: str) -> str:
    key = hashlib.sha256(
        "|".join([_folded(given), _folded(family), born]).encode("utf-8")
    ).hexdigest()
    return derived_id("child", "console-key", key)


def upgrade() -> None:
    op.create_table(
        "notifier_child_links",
        sa.Column("force_code", sa.String(length=8), primary_key=True),
        sa.Column("episode_ref", sa.String(length=64), primary_key=True),
        sa.Column("child_id", sa.String(length=36), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
    )
    op.create_index("ix_notifier_child_links_child", "notifier_child_links", ["child_id"])
    op.create_index(
        "ix_notifier_disclosures_episode", "notifier_disclosures", ["force_code", "episode_ref"]
    )
    with op.batch_alter_table("notifier_disclosures") as batch:
        batch.alter_column("child_key", existing_type=sa.String(length=64), nullable=True)
    connection = op.get_bind()
    alerts = sa.table(
        "notifier_alerts",
        sa.column("force_code", sa.String),
        sa.column("episode_ref", sa.String),
        sa.column("child_given_name", sa.String),
        sa.column("child_family_name", sa.String),
        sa.column("child_date_of_birth", sa.Date),
    )
    rows = connection.execute(
        sa.select(
            alerts.c.force_code,
            alerts.c.episode_ref,
            sa.func.min(alerts.c.child_given_name),
            sa.func.min(alerts.c.child_family_name),
            sa.func.min(alerts.c.child_date_of_birth),
        ).group_by(alerts.c.force_code, alerts.c.episode_ref)
    ).all()
    links = sa.table(
        "notifier_child_links",
        sa.column("force_code", sa.String),
        sa.column("episode_ref", sa.String),
        sa.column("child_id", sa.String),
        sa.column("revision", sa.Integer),
    )
    for n in range(0, len(rows), BATCH):
        connection.execute(
            links.insert(),
            [
                {
                    "force_code": force_code,
                    "episode_ref": ref,
                    "child_id": _legacy_child_id(given, family, str(born)[:10]),
                    "revision": 0,
                }
                for force_code, ref, given, family, born in rows[n : n + BATCH]
            ],
        )


def downgrade() -> None:
    # Entries made since have no key: the column stays nullable (their hashes hold None).
    op.drop_index("ix_notifier_disclosures_episode", table_name="notifier_disclosures")
    op.drop_index("ix_notifier_child_links_child", table_name="notifier_child_links")
    op.drop_table("notifier_child_links")

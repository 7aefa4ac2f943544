"""the router's child_id groups a child's episodes (issue 20)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 12:00:00

The console used to group episodes by its own key (a hash of the names and date of
birth as the police wrote them). Each episode read before this revision gets a child id
derived from that key, so the pages keep grouping as before; the router's links
(child-identities.v1, published for every episode of its index, the migrated ones
included) then replace them episode by episode.
"""

import hashlib
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from schemas.base import derived_id
from services.runtime.database import UtcDateTime

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2000


def _folded(name: str) -> str:
    text = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in text if c.isalpha())


def _legacy_key(given: str, family: str, born: str) -> str:
    """The key of before (schemas.identifiers.child_key, now gone), for the downgrade."""
    names = [_folded(given), _folded(family), born]
    return hashlib.sha256("|".join(names).encode("utf-8")).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("console_episodes") as batch:
        batch.add_column(sa.Column("child_id", sa.String(length=36), nullable=True))
    connection = op.get_bind()
    episodes = sa.table(
        "console_episodes",
        sa.column("episode_key", sa.String),
        sa.column("child_key", sa.String),
        sa.column("child_id", sa.String),
    )
    keys = connection.execute(
        sa.select(episodes.c.child_key).where(episodes.c.child_key.is_not(None)).distinct()
    ).all()
    for n in range(0, len(keys), BATCH):
        connection.execute(
            sa.update(episodes)
            .where(episodes.c.child_key == sa.bindparam("key"))
            .values(child_id=sa.bindparam("child")),
            [
                {"key": key, "child": derived_id("child", "console-key", key)}
                for (key,) in keys[n : n + BATCH]
            ],
        )
    op.drop_index("ix_console_episodes_child", table_name="console_episodes")
    with op.batch_alter_table("console_episodes") as batch:
        batch.drop_column("child_key")
    op.create_index(
        "ix_console_episodes_child", "console_episodes", ["child_id", "latest_event_at"]
    )
    with op.batch_alter_table("console_episode_events") as batch:
        batch.drop_column("child_key")
    with op.batch_alter_table("console_identity_reviews") as batch:
        batch.add_column(sa.Column("question", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("child_id", sa.String(length=36), nullable=True))
    op.create_table(
        "console_child_links",
        sa.Column("episode_key", sa.String(length=300), primary_key=True),
        sa.Column("child_id", sa.String(length=36), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(length=20), nullable=False),
        sa.Column("previous_child_id", sa.String(length=36), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_console_child_links_child", "console_child_links", ["child_id"])
    op.create_table(
        "console_child_merges",
        sa.Column("child_id", sa.String(length=36), primary_key=True),
        sa.Column("into_child_id", sa.String(length=36), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
    )


def _restore_key(table: str) -> None:
    with op.batch_alter_table(table) as batch:
        batch.add_column(sa.Column("child_key", sa.String(length=64), nullable=True))
    connection = op.get_bind()
    key_column = "episode_key" if table == "console_episodes" else "message_id"
    t = sa.table(
        table,
        sa.column(key_column, sa.String),
        sa.column("given_name", sa.String),
        sa.column("family_name", sa.String),
        sa.column("date_of_birth", sa.Date),
        sa.column("child_key", sa.String),
    )
    rows = connection.execute(
        sa.select(t.c[key_column], t.c.given_name, t.c.family_name, t.c.date_of_birth).where(
            t.c.given_name.is_not(None), t.c.date_of_birth.is_not(None)
        )
    ).all()
    for n in range(0, len(rows), BATCH):
        connection.execute(
            sa.update(t)
            .where(t.c[key_column] == sa.bindparam("row_key"))
            .values(child_key=sa.bindparam("key")),
            [
                {
                    "row_key": r[0],
                    "key": _legacy_key(r.given_name, r.family_name, str(r.date_of_birth)[:10]),
                }
                for r in rows[n : n + BATCH]
            ],
        )


def downgrade() -> None:
    op.drop_table("console_child_merges")
    op.drop_index("ix_console_child_links_child", table_name="console_child_links")
    op.drop_table("console_child_links")
    with op.batch_alter_table("console_identity_reviews") as batch:
        batch.drop_column("child_id")
        batch.drop_column("question")
    _restore_key("console_episode_events")
    op.drop_index("ix_console_episodes_child", table_name="console_episodes")
    _restore_key("console_episodes")
    with op.batch_alter_table("console_episodes") as batch:
        batch.drop_column("child_id")
    op.create_index(
        "ix_console_episodes_child", "console_episodes", ["child_key", "latest_event_at"]
    )

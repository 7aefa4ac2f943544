"""the person index: one child_id per child across episodes (issue 20)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 12:00:00

Episodes the router already counted (``router_episodes``, keyed by the old
``child_key``: ``nhs:<NHS number>`` or ``name:<family>|<given>|<date of birth>``, names
normalised) become rows of the person index: episodes that shared a key share a child,
whose id derives from the key, and what the key held (the NHS number, or the normalised
names and date of birth) is kept as the episode's record, so later episodes can link to
them. Their links are published on child-identities.v1 by the router once it starts
(``announced`` = 0), and the console and the notifier follow.
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

from schemas.base import derived_id
from services.router.blocking import roll_key_values
from services.runtime.database import UtcDateTime, utcnow

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2000


def _code(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "router_person_episodes",
        sa.Column("force_code", sa.String(length=2), primary_key=True),
        sa.Column("episode_ref", sa.String(length=64), primary_key=True),
        sa.Column("child_id", _code(36), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("announced", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(length=20), nullable=False),
        sa.Column("given_name", sa.String(length=100), nullable=True),
        sa.Column("family_name", sa.String(length=100), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("sex", sa.String(length=20), nullable=True),
        sa.Column("postcode", sa.String(length=8), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("nhs_number", _code(10), nullable=True),
        sa.Column("upn", _code(13), nullable=True),
        sa.Column("police_person_id", _code(64), nullable=True),
        sa.Column("norm_given", sa.String(length=100), nullable=True),
        sa.Column("norm_family", sa.String(length=100), nullable=True),
        sa.Column("key_family_dob", _code(80), nullable=True),
        sa.Column("key_names", _code(140), nullable=True),
        sa.Column("key_place", _code(20), nullable=True),
        sa.Column("key_given_dob", _code(120), nullable=True),
        sa.Column("withdrawn", sa.Boolean(), nullable=False),
        sa.Column("first_seen_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    table = "router_person_episodes"
    op.create_index("ix_router_person_episodes_child", table, ["child_id"])
    op.create_index(
        "ix_router_person_episodes_nhs",
        table,
        ["nhs_number"],
        sqlite_where=sa.text("nhs_number IS NOT NULL"),
        postgresql_where=sa.text("nhs_number IS NOT NULL"),
    )
    op.create_index(
        "ix_router_person_episodes_police_id",
        table,
        ["force_code", "police_person_id"],
        sqlite_where=sa.text("police_person_id IS NOT NULL"),
        postgresql_where=sa.text("police_person_id IS NOT NULL"),
    )
    op.create_index("ix_router_person_episodes_family_dob", table, ["key_family_dob"])
    op.create_index("ix_router_person_episodes_names", table, ["key_names"])
    op.create_index("ix_router_person_episodes_place", table, ["key_place"])
    op.create_index("ix_router_person_episodes_given_dob", table, ["key_given_dob"])
    op.create_index("ix_router_person_episodes_unannounced", table, ["announced", "revision"])
    op.create_table(
        "router_person_roll_links",
        sa.Column("org_code", sa.String(length=20), primary_key=True),
        sa.Column("record_id", sa.String(length=64), primary_key=True),
        sa.Column("force_code", sa.String(length=2), primary_key=True),
        sa.Column("episode_ref", sa.String(length=64), primary_key=True),
        sa.Column("sure", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "router_child_reviews",
        sa.Column("review_id", sa.String(length=64), primary_key=True),
        sa.Column("force_code", sa.String(length=2), nullable=False),
        sa.Column("episode_ref", sa.String(length=64), nullable=False),
        sa.Column("child_id", sa.String(length=36), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("decided_child_id", sa.String(length=36), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index(
        "ix_router_child_reviews_state", "router_child_reviews", ["state", "created_at"]
    )
    op.create_table(
        "router_child_changes",
        sa.Column("change_id", sa.String(length=64), primary_key=True),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("child_id", sa.String(length=36), nullable=False),
        sa.Column("into_child_id", sa.String(length=36), nullable=False),
        sa.Column("episodes", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("applied_at", UtcDateTime(), nullable=False),
    )
    _index_existing_episodes()
    op.drop_index("ix_router_episodes_child", table_name="router_episodes")
    with op.batch_alter_table("router_episodes") as batch:
        batch.drop_column("child_key")


def _record(child_key: str) -> dict[str, object]:
    """What an old key held, as the person index keeps it."""
    if child_key.startswith("nhs:"):
        return {"nhs_number": child_key[4:]}
    family, given, born = child_key.removeprefix("name:").split("|")
    keys = roll_key_values(given, family, born, None)
    return {
        "given_name": given.title(),
        "family_name": family.title(),
        "date_of_birth": date.fromisoformat(born),
        "norm_given": given,
        "norm_family": family,
        "key_family_dob": keys[0],
        "key_names": keys[1],
        "key_place": keys[2],
        "key_given_dob": keys[3],
    }


def _index_existing_episodes() -> None:
    connection = op.get_bind()
    old = sa.table(
        "router_episodes",
        sa.column("id", sa.Integer),
        sa.column("force_code", sa.String),
        sa.column("episode_ref", sa.String),
        sa.column("child_key", sa.String),
        sa.column("reported_at", UtcDateTime()),
    )
    new = sa.table(
        "router_person_episodes",
        *(
            sa.column(name)
            for name in (
                "force_code",
                "episode_ref",
                "child_id",
                "revision",
                "announced",
                "basis",
                "given_name",
                "family_name",
                "date_of_birth",
                "nhs_number",
                "norm_given",
                "norm_family",
                "key_family_dob",
                "key_names",
                "key_place",
                "key_given_dob",
                "withdrawn",
                "first_seen_at",
                "updated_at",
            )
        ),
    )
    empty = dict.fromkeys(
        (
            "given_name",
            "family_name",
            "date_of_birth",
            "nhs_number",
            "norm_given",
            "norm_family",
            "key_family_dob",
            "key_names",
            "key_place",
            "key_given_dob",
        )
    )
    now = utcnow()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(old).where(old.c.id > last).order_by(old.c.id).limit(BATCH)
        ).all()
        if not rows:
            break
        connection.execute(
            new.insert(),
            [
                {
                    **empty,
                    **_record(r.child_key),
                    "force_code": r.force_code,
                    "episode_ref": r.episode_ref,
                    "child_id": derived_id("child", "migrated", r.child_key),
                    "revision": 1,
                    "announced": 0,
                    "basis": "migrated",
                    "withdrawn": False,
                    "first_seen_at": r.reported_at,
                    "updated_at": now,
                }
                for r in rows
            ],
        )
        last = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("router_episodes") as batch:
        batch.add_column(
            sa.Column("child_key", sa.String(length=250), nullable=False, server_default="")
        )
    connection = op.get_bind()
    # Back to the old key: the NHS number, else the normalised names and date of birth.
    connection.execute(
        sa.text(
            "UPDATE router_episodes SET child_key = COALESCE(("
            " SELECT CASE WHEN p.nhs_number IS NOT NULL THEN 'nhs:' || p.nhs_number"
            " ELSE 'name:' || p.norm_family || '|' || p.norm_given || '|' ||"
            " CAST(p.date_of_birth AS VARCHAR) END"
            " FROM router_person_episodes p WHERE p.force_code = router_episodes.force_code"
            " AND p.episode_ref = router_episodes.episode_ref), '')"
        )
    )
    with op.batch_alter_table("router_episodes") as batch:
        batch.alter_column("child_key", server_default=None)
    op.create_index(
        "ix_router_episodes_child", "router_episodes", ["child_key", "reported_at"], unique=False
    )
    op.drop_table("router_child_changes")
    op.drop_index("ix_router_child_reviews_state", table_name="router_child_reviews")
    op.drop_table("router_child_reviews")
    op.drop_table("router_person_roll_links")
    for name in (
        "ix_router_person_episodes_unannounced",
        "ix_router_person_episodes_given_dob",
        "ix_router_person_episodes_place",
        "ix_router_person_episodes_names",
        "ix_router_person_episodes_family_dob",
        "ix_router_person_episodes_police_id",
        "ix_router_person_episodes_nhs",
        "ix_router_person_episodes_child",
    ):
        op.drop_index(name, table_name="router_person_episodes")
    op.drop_table("router_person_episodes")

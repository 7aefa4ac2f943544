"""the figures' facts on each episode: sex, home and found postcode districts, missing
from (issue 20)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 14:00:00

Episodes read before this revision get where they went missing from and where the child
was found from the events already kept; the sex and home district were not kept then
(they count as "not recorded").
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.console.projections import reported_columns
from services.runtime.database import UtcDateTime

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2000
_REPORTED = (
    "reported_month",
    "reported_day",
    "reported_hour",
    "reported_weekday",
    "age_at_report",
    "exploitation",
)


def upgrade() -> None:
    with op.batch_alter_table("console_episodes") as batch:
        batch.add_column(sa.Column("sex", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("home_district", sa.String(length=4), nullable=True))
        batch.add_column(sa.Column("missing_from", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("found_district", sa.String(length=4), nullable=True))
        batch.add_column(sa.Column("reported_month", sa.String(length=7), nullable=True))
        batch.add_column(sa.Column("reported_day", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("reported_hour", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("reported_weekday", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("age_at_report", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("exploitation", sa.Boolean(), nullable=True))
    with op.batch_alter_table("console_episode_events") as batch:
        batch.add_column(sa.Column("sex", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("home_district", sa.String(length=4), nullable=True))
    connection = op.get_bind()
    events = sa.table(
        "console_episode_events",
        sa.column("episode_key", sa.String),
        sa.column("type", sa.String),
        sa.column("occurred_at", sa.DateTime),
        sa.column("missing_from", sa.String),
        sa.column("location_postcode", sa.String),
    )
    rows = connection.execute(
        sa.select(
            events.c.episode_key,
            events.c.type,
            events.c.missing_from,
            events.c.location_postcode,
        )
        .where(sa.or_(events.c.missing_from.is_not(None), events.c.location_postcode.is_not(None)))
        .order_by(events.c.episode_key, events.c.occurred_at)
    ).all()
    facts: dict[str, dict[str, str]] = {}
    for key, type_, missing_from, postcode in rows:
        fact = facts.setdefault(key, {})
        if missing_from and "missing_from" not in fact:
            fact["missing_from"] = missing_from
        if postcode and type_ in ("found", "returned"):
            fact["found_district"] = postcode.split(" ", 1)[0][:4]
    episodes = sa.table(
        "console_episodes",
        sa.column("episode_key", sa.String),
        sa.column("first_event_at", UtcDateTime()),
        sa.column("date_of_birth", sa.Date),
        sa.column("risk_factors", sa.String),
        *(sa.column(name) for name in _REPORTED),
        sa.column("missing_from", sa.String),
        sa.column("found_district", sa.String),
    )
    rows = connection.execute(
        sa.select(
            episodes.c.episode_key,
            episodes.c.first_event_at,
            episodes.c.date_of_birth,
            episodes.c.risk_factors,
        )
    ).all()
    updates = [
        {
            "key": key,
            "missing_from": facts.get(key, {}).get("missing_from"),
            "found_district": facts.get(key, {}).get("found_district"),
            **(reported_columns(at, born, factors) or dict.fromkeys(_REPORTED)),
        }
        for key, at, born, factors in rows
    ]
    for n in range(0, len(updates), BATCH):
        connection.execute(
            sa.update(episodes)
            .where(episodes.c.episode_key == sa.bindparam("key"))
            .values(
                missing_from=sa.bindparam("missing_from"),
                found_district=sa.bindparam("found_district"),
                **{name: sa.bindparam(name) for name in _REPORTED},
            ),
            updates[n : n + BATCH],
        )


def downgrade() -> None:
    with op.batch_alter_table("console_episode_events") as batch:
        batch.drop_column("home_district")
        batch.drop_column("sex")
    with op.batch_alter_table("console_episodes") as batch:
        for name in reversed(_REPORTED):
            batch.drop_column(name)
        batch.drop_column("found_district")
        batch.drop_column("missing_from")
        batch.drop_column("home_district")
        batch.drop_column("sex")

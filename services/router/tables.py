"""The router's own tables: the directory (organisations and their rolls), the
episodes it has seen (for repeat-missing counts) and the identity reviews it holds for a
person's decision. No other service reads them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeEngine

from services.runtime.database import UtcDateTime
from services.runtime.messaging import messaging_tables

metadata = MetaData()


def _code(length: int) -> TypeEngine[str]:
    """Text only ever compared for equality (identifiers, blocking keys): byte order on
    PostgreSQL, whose locale collations sort several times slower when a roll's
    indexes are built (SQLite compares bytes already)."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


organisations = Table(
    "router_organisations",
    metadata,
    Column("code", String(20), primary_key=True),
    Column("kind", String(30), nullable=False),
    Column("name", String(200), nullable=False),
    Column("email", String(254), nullable=False),
    Column("escalation_email", String(254), nullable=True),
    Column("phone", String(40), nullable=True),
    Column("la_code", String(9), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    # A local authority's out-of-hours (emergency duty) team.
    Column("out_of_hours_email", String(254), nullable=True),
    Index("ix_router_organisations_kind", "kind"),
)

# One row: moved on by every change to the organisations and every roll import, in the
# same transaction, so a router's cache of the organisations and of the roll's name
# frequencies (services/router/directory_cache.py) knows when to read again.
directory_version = Table(
    "router_directory_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
)

roll = Table(
    "router_roll",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    # No foreign key: the importer checks every org_code, and a per-row check would
    # cost more than the insert itself on a roll of millions.
    Column("org_code", String(20), nullable=False),
    Column("record_id", String(64), nullable=False),
    Column("given_name", String(100), nullable=False),
    Column("family_name", String(100), nullable=False),
    Column("date_of_birth", Date, nullable=False),
    Column("sex", String(20), nullable=True),
    Column("nhs_number", _code(10), nullable=True),
    Column("upn", _code(13), nullable=True),
    Column("postcode", String(8), nullable=True),
    Column("address", String(300), nullable=True),
    Column("valid_from", Date, nullable=True),
    Column("valid_to", Date, nullable=True),
    # Normalised names (names.normalise_name) so lookups need no function index.
    Column("norm_given", String(100), nullable=False),
    Column("norm_family", String(100), nullable=False),
    # Blocking keys (blocking.roll_keys): a lookup probes these, never the whole roll.
    Column("key_family_dob", _code(80), nullable=False),
    Column("key_names", _code(140), nullable=False),
    Column("key_place", _code(20), nullable=True),
    # Null only on rows imported before this key existed (migration 0002 fills them).
    Column("key_given_dob", _code(120), nullable=True),
    # blocking.address_key (None without a house number and street; on rows imported
    # before migration 0009, which fills it).
    Column("key_address", _code(24), nullable=True),
    # blocking.initials_key (None only on rows imported before migration 0009).
    Column("key_initials_dob", _code(16), nullable=True),
    # Also the org_code index: org_code leads it (replacing a roll deletes by org_code).
    # An index rather than a constraint, so that a bulk import can drop it and build it
    # once at the end (SQLite cannot drop a table's constraint).
    Index("uq_router_roll_org_record", "org_code", "record_id", unique=True),
    # Identifiers are often missing from rolls: index only the rows that have one.
    Index(
        "ix_router_roll_nhs_number",
        "nhs_number",
        sqlite_where=text("nhs_number IS NOT NULL"),
        postgresql_where=text("nhs_number IS NOT NULL"),
    ),
    Index(
        "ix_router_roll_upn",
        "upn",
        sqlite_where=text("upn IS NOT NULL"),
        postgresql_where=text("upn IS NOT NULL"),
    ),
    Index("ix_router_roll_key_family_dob", "key_family_dob"),
    Index("ix_router_roll_key_names", "key_names"),
    Index("ix_router_roll_key_given_dob", "key_given_dob"),
    Index(
        "ix_router_roll_key_place",
        "key_place",
        sqlite_where=text("key_place IS NOT NULL"),
        postgresql_where=text("key_place IS NOT NULL"),
    ),
    Index("ix_router_roll_key_initials_dob", "key_initials_dob"),
    Index(
        "ix_router_roll_key_address",
        "key_address",
        sqlite_where=text("key_address IS NOT NULL"),
        postgresql_where=text("key_address IS NOT NULL"),
    ),
)

# The live roll's name tables (services/router/name_frequencies.py): one row per name
# field, worked out again over the whole roll by every roll import, in its transaction
# (services/router/frequency_store.py). ``shares``: {name: share of the roll's rows},
# for names held by at least ``min_count`` rows; ``minimum``: the share rarer names
# count as.
name_frequencies = Table(
    "router_name_frequencies",
    metadata,
    Column("field", String(20), primary_key=True),
    Column("roll_rows", BigInteger, nullable=False),
    Column("min_count", Integer, nullable=False),
    Column("minimum", Float, nullable=False),
    Column("shares", JSON, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# How completely the GP lists hold the school children (services/router/gp_coverage.py):
# one row, worked out again over the whole roll by every roll import, in its transaction
# (services/router/gp_coverage_store.py). No row: no roll import since migration 0012.
gp_coverage = Table(
    "router_gp_coverage",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("school_children", BigInteger, nullable=False),
    Column("on_gp_list", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

episodes = Table(
    "router_episodes",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("force_code", String(2), nullable=False),
    Column("episode_ref", String(64), nullable=False),
    # Which child: the person index (router_person_episodes) says, by episode.
    Column("reported_at", UtcDateTime(), nullable=False),
    Column("repeat_flagged", Boolean, nullable=False, default=False),
    UniqueConstraint("force_code", "episode_ref", name="uq_router_episodes_ref"),
)

# The person index (issue 20; services/router/person_index.py, services/router/
# identity.py): one row per episode, the child as its police record gave it (the first
# event's names; identifiers later events add), and the child it belongs to. ``revision``
# goes up each time a review, merge or split moves the episode (child-identities.v1
# carries it); ``announced`` is the revision last published. Names and date of birth are
# None only on rows migrated from the NHS-number keys of before (migration 0006).
person_episodes = Table(
    "router_person_episodes",
    metadata,
    Column("force_code", String(2), primary_key=True),
    Column("episode_ref", String(64), primary_key=True),
    Column("child_id", _code(36), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("announced", Integer, nullable=False),
    Column("basis", String(20), nullable=False),
    Column("given_name", String(100), nullable=True),
    Column("family_name", String(100), nullable=True),
    Column("date_of_birth", Date, nullable=True),
    Column("sex", String(20), nullable=True),
    Column("postcode", String(8), nullable=True),
    Column("address", String(300), nullable=True),
    Column("nhs_number", _code(10), nullable=True),
    Column("upn", _code(13), nullable=True),
    Column("police_person_id", _code(64), nullable=True),
    Column("norm_given", String(100), nullable=True),
    Column("norm_family", String(100), nullable=True),
    Column("key_family_dob", _code(80), nullable=True),
    Column("key_names", _code(140), nullable=True),
    Column("key_place", _code(20), nullable=True),
    Column("key_given_dob", _code(120), nullable=True),
    # Withdrawn by the police (the wrong child, or in error): no evidence for others.
    Column("withdrawn", Boolean, nullable=False, default=False),
    Column("first_seen_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # The latest ``occurred_at`` of the episode's events: retention removes the row once
    # it is older than accepted_events_days (services/router/retention.py). None only
    # between migration 0007's column and its backfill.
    Column("last_event_at", UtcDateTime(), nullable=True),
    Index("ix_router_person_episodes_child", "child_id"),
    Index(
        "ix_router_person_episodes_nhs",
        "nhs_number",
        sqlite_where=text("nhs_number IS NOT NULL"),
        postgresql_where=text("nhs_number IS NOT NULL"),
    ),
    Index(
        "ix_router_person_episodes_police_id",
        "force_code",
        "police_person_id",
        sqlite_where=text("police_person_id IS NOT NULL"),
        postgresql_where=text("police_person_id IS NOT NULL"),
    ),
    Index(
        "ix_router_person_episodes_upn",
        "upn",
        sqlite_where=text("upn IS NOT NULL"),
        postgresql_where=text("upn IS NOT NULL"),
    ),
    Index("ix_router_person_episodes_family_dob", "key_family_dob"),
    Index("ix_router_person_episodes_names", "key_names"),
    Index("ix_router_person_episodes_place", "key_place"),
    Index("ix_router_person_episodes_given_dob", "key_given_dob"),
    Index("ix_router_person_episodes_unannounced", "announced", "revision"),
    Index("ix_router_person_episodes_last_event", "last_event_at"),
)

# Roll records the episodes' children matched (the roll matcher's ``match``, or a
# person's decision): the same record at any organisation is the same child. Also the
# record the matcher was unsure of but had no rival for (``sure`` false).
person_roll_links = Table(
    "router_person_roll_links",
    metadata,
    Column("org_code", String(20), primary_key=True),
    Column("record_id", String(64), primary_key=True),
    Column("force_code", String(2), primary_key=True),
    Column("episode_ref", String(64), primary_key=True),
    # False: the matcher's only candidate at its organisation, not a match
    # (person_evidence.sole_candidates): weaker evidence, used with a comparison.
    Column("sure", Boolean, nullable=False, default=True),
)

# "The same child as …?" reviews (identity-reviews.v1, question same-child): the episode
# stays with ``child_id`` (its own new child) until a person says which earlier child it
# is; a ``match`` merges ``child_id`` into that child.
child_reviews = Table(
    "router_child_reviews",
    metadata,
    Column("review_id", String(64), primary_key=True),
    Column("force_code", String(2), nullable=False),
    Column("episode_ref", String(64), nullable=False),
    Column("child_id", String(36), nullable=False),
    Column("candidates", JSON, nullable=False),  # [child_id, ...]
    Column("state", String(10), nullable=False),  # pending | matched | no-match | expired
    Column("decided_child_id", String(36), nullable=True),
    Column("decided_by", String(200), nullable=True),
    Column("decided_at", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_router_child_reviews_state", "state", "created_at"),
)

# Merges and splits applied (child-identity-changes.v1), each once: ids and counts only.
child_changes = Table(
    "router_child_changes",
    metadata,
    Column("change_id", String(64), primary_key=True),
    Column("action", String(10), nullable=False),  # merge | split | review
    Column("child_id", String(36), nullable=False),
    Column("into_child_id", String(36), nullable=False),
    Column("episodes", Integer, nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("applied_at", UtcDateTime(), nullable=False),
)

# Identity reviews (DESIGN §6): an organisation the router could not decide for. The
# held event is kept whole so that a person's decision can route it later; a decision
# is applied once (state moves from pending, never back).
reviews = Table(
    "router_reviews",
    metadata,
    # derived_id(event message id, org_code, "review"): a replayed event finds its row.
    Column("review_id", String(64), primary_key=True),
    Column("event_message_id", String(64), nullable=False),
    Column("org_code", String(20), nullable=False),
    Column("force_code", String(2), nullable=False),
    Column("episode_ref", String(64), nullable=False),
    Column("event_type", String(20), nullable=False),
    # EpisodeEventV1 as JSON (holds the child's details: never printed or logged).
    Column("event", JSON, nullable=False),
    # [{roll_record_id, score, explanation}]: ids and field agreements only.
    Column("candidates", JSON, nullable=False),
    Column("state", String(10), nullable=False),  # pending | matched | no-match
    Column("roll_record_id", String(64), nullable=True),  # the record decided, if matched
    Column("decided_by", String(200), nullable=True),
    Column("decided_at", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_router_reviews_state", "state", "created_at"),
    Index("ix_router_reviews_episode", "force_code", "episode_ref"),
)

# A recipient answered "we do not know this child" (alert-answers): the roll match that
# sent them the alert is disputed. Until a person confirms it (an identity decision on
# ``review_id``), later events of the episode do not reach that organisation.
disputes = Table(
    "router_disputes",
    metadata,
    # derived_id(alert id, "not-known"): the console's review of the answer has this id.
    Column("review_id", String(64), primary_key=True),
    Column("alert_id", String(64), nullable=False),
    Column("force_code", String(2), nullable=False),
    Column("episode_ref", String(64), nullable=False),
    Column("org_code", String(20), nullable=False),
    Column("roll_record_id", String(64), nullable=True),
    Column("state", String(10), nullable=False),  # disputed | confirmed | refuted
    Column("decided_by", String(200), nullable=True),
    Column("decided_at", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_router_disputes_episode", "force_code", "episode_ref", "org_code"),
)

# RHI tasks waiting for a return (policy ``rhi_trigger = "found"``, issue 21): a
# ``found`` leaves a row due ``rhi_found_wait_hours`` later; a ``returned`` first settles
# it (its own task goes instead), otherwise a loop opens the task when it falls due
# (services/router/awaiting_return.py). One row per episode; ``task`` (the prepared
# RhiTaskRequestedV1, with the child's name) is cleared once the row is settled.
awaiting_return = Table(
    "router_awaiting_return",
    metadata,
    Column("force_code", String(2), primary_key=True),
    Column("episode_ref", String(64), primary_key=True),
    Column("state", String(10), nullable=False),  # waiting | opened | returned | withdrawn
    Column("open_at", UtcDateTime(), nullable=True),
    Column("task_id", String(64), nullable=True),
    Column("task", JSON, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("settled_at", UtcDateTime(), nullable=True),
    Index("ix_router_awaiting_return_due", "state", "open_at"),
)

messaging = messaging_tables(metadata, "router")

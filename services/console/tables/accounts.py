"""Console accounts, their sessions, and the audit log of what they viewed."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table

from services.console.tables.metadata import metadata
from services.runtime.audit_chain import chain_columns
from services.runtime.database import UtcDateTime

# Console accounts (DESIGN §8): a password hash (Argon2id), never the password.
users = Table(
    "console_users",
    metadata,
    Column("username", String(63), primary_key=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("la_code", String(9), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("disabled_at", UtcDateTime(), nullable=True),
)

# Signed-in sessions: the cookie holds a random token, the table only its SHA-256, so a
# copy of the database signs nobody in. Each session has its own CSRF token.
sessions = Table(
    "console_sessions",
    metadata,
    Column("token_digest", String(64), primary_key=True),
    Column("username", String(63), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=False),
    Index("ix_console_sessions_username", "username"),
)

# Every view of a child's record and every export (DESIGN §8): who, what, when. Rows
# are only ever added, each chained to the one before (services/runtime/audit_chain.py);
# the admin's audit page reads them, retention removes the oldest.
audit = Table(
    "console_audit",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at", UtcDateTime(), nullable=False),
    Column("username", String(63), nullable=False),
    Column("role", String(20), nullable=False),
    Column("action", String(40), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("detail", String(500), nullable=True),
    *chain_columns("console_audit"),
    Index("ix_console_audit_at", "at"),
    # A subject access request finds a child's entries by subject.
    Index("ix_console_audit_subject", "subject"),
)

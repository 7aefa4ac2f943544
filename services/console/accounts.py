"""Console accounts (DESIGN §8): roles, what each may open, passwords and session
tokens. Pure: the store (``sessions.py``) and the web layer (``auth.py``) do the I/O.

Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's second
recommended profile); a session token is 256 random bits, kept only as its SHA-256.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from schemas.identifiers import validate_gss_code


class Role(StrEnum):
    MSET_CHAIR = "mset-chair"  # everything in the partnership
    RHI_WORKER = "rhi-worker"  # the return home interviews of their own authority
    MASH = "mash"  # identity review
    ADMIN = "admin"  # users, organisations, keys; operational pages; no child's record


ROLE_HELP = {
    Role.MSET_CHAIR: "everything in the partnership",
    Role.RHI_WORKER: "the return home interview tasks of one local authority (--la)",
    Role.MASH: "identity review",
    Role.ADMIN: "users, organisations, keys and operational pages",
}

# Where each role lands after signing in.
HOME = {
    Role.MSET_CHAIR: "/",
    Role.RHI_WORKER: "/rhi",
    Role.MASH: "/reviews",
    Role.ADMIN: "/dead-letters",
}

SESSION_IDLE = timedelta(minutes=60)
SESSION_LONGEST = timedelta(hours=12)
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # hashing a megabyte of "password" is a cheap denial of service
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{1,62}")


@dataclass(frozen=True)
class User:
    username: str
    role: Role
    la_code: str | None  # an rhi-worker's local authority (GSS code)

    @property
    def home(self) -> str:
        return HOME[self.role]


def username_problem(username: str) -> str | None:
    if not _USERNAME.fullmatch(username):
        return (
            "2 to 63 characters: lower-case letters, digits, '.', '_', '-' or '@', "
            "starting with a letter or digit"
        )
    return None


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"at most {MAX_PASSWORD} characters"
    return None


def authority_problem(role: Role, la_code: str | None) -> str | None:
    """An rhi-worker belongs to one local authority; nobody else has one."""
    if role is Role.RHI_WORKER:
        if not la_code:
            return "an rhi-worker needs --la, their local authority's GSS code (e.g. E06000057)"
        try:
            validate_gss_code(la_code)
        except ValueError as exc:
            return str(exc)
        return None
    if la_code:
        return f"only an rhi-worker has a local authority; a {role.value} sees the partnership"
    return None


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def password_matches(stored_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Verified against when the username is unknown, so that a wrong username takes as
# long to refuse as a wrong password (no way to find which usernames exist).
def decoy_hash() -> str:
    return _decoy()


@lru_cache(maxsize=1)
def _decoy() -> str:
    return hash_password(secrets.token_urlsafe(16))


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def session_expired(started: datetime, last_seen: datetime, now: datetime) -> bool:
    return now - last_seen > SESSION_IDLE or now - started > SESSION_LONGEST

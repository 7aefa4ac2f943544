"""API keys: ``mer_<force>_<32 url-safe random chars>``; only the sha256 is stored."""

from __future__ import annotations

import hashlib
import re
import secrets

from schemas.identifiers import validate_force_code

_KEY = re.compile(r"^mer_[0-9]{2}_[A-Za-z0-9_-]{32}$")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


class ForceCodeError(ValueError):
    """A police force code must be two digits."""


def check_force_code(force_code: str) -> str:
    try:
        return validate_force_code(force_code)
    except ValueError as exc:
        raise ForceCodeError(f"--force-code {force_code!r}: {exc}") from None


def generate_key(force_code: str) -> str:
    check_force_code(force_code)
    random = "".join(secrets.choice(_ALPHABET) for _ in range(32))
    return f"mer_{force_code}_{random}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(key: str) -> bool:
    return bool(_KEY.fullmatch(key))


def key_force(key: str) -> str | None:
    """The force a key's text names (``mer_<force>_…``), None when it is not a key's
    form; the stored key's force is what counts (the text only lets work start early)."""
    return key[4:6] if looks_like_key(key) else None

"""API keys: their shape, their hash, and reading them from the Authorization header."""

from __future__ import annotations

import hashlib

import pytest

from services.ingest.keys import (
    ForceCodeError,
    check_force_code,
    generate_key,
    hash_key,
    looks_like_key,
)


def test_a_key_names_its_force_and_carries_32_random_url_safe_chars() -> None:
    key = generate_key("10")
    assert key.startswith("mer_10_") and len(key) == len("mer_10_") + 32
    assert looks_like_key(key)
    assert generate_key("10") != key


def test_only_the_sha256_is_kept() -> None:
    key = generate_key("37")
    assert hash_key(key) == hashlib.sha256(key.encode()).hexdigest()
    assert len(hash_key(key)) == 64 and key not in hash_key(key)


@pytest.mark.parametrize("force", ["1", "100", "ab", "", "1a"])
def test_force_codes_are_two_digits(force: str) -> None:
    with pytest.raises(ForceCodeError):
        generate_key(force)
    with pytest.raises(ForceCodeError):
        check_force_code(force)

"""The audit chain's hashing (pure): the same entry always hashes the same, whatever the
timezone it is given in, and any change to content, order or predecessor changes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from services.runtime.audit_chain import GENESIS, entry_hash

AT = datetime(2026, 11, 29, 13, 0, 0, 123456, tzinfo=UTC)
CONTENT = {"at": AT, "username": "chair", "action": "view-child", "detail": None}


def test_hash_is_stable_across_timezones_and_key_order() -> None:
    first = entry_hash(GENESIS, 1, CONTENT)
    assert len(first) == 64 and first != GENESIS
    in_paris = AT.astimezone(timezone(timedelta(hours=1)))
    reordered = {"detail": None, "action": "view-child", "username": "chair", "at": in_paris}
    assert entry_hash(GENESIS, 1, reordered) == first


def test_any_change_changes_the_hash() -> None:
    first = entry_hash(GENESIS, 1, CONTENT)
    assert entry_hash(GENESIS, 2, CONTENT) != first
    assert entry_hash("1" * 64, 1, CONTENT) != first
    assert entry_hash(GENESIS, 1, {**CONTENT, "username": "chair2"}) != first
    assert entry_hash(GENESIS, 1, {**CONTENT, "at": AT + timedelta(microseconds=1)}) != first
    assert entry_hash(GENESIS, 1, {**CONTENT, "detail": ""}) != first

"""The policy file's [retention] table: defaults, overrides, and errors that name the key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.runtime.policy_file import PolicyFileError
from services.runtime.retention import DEFAULT_DAYS, RetentionPolicy


def test_defaults_and_overrides() -> None:
    assert RetentionPolicy.from_sections({}).days == DEFAULT_DAYS
    assert DEFAULT_DAYS == {"accepted_events": 400, "rejects": 30, "alerts": 400, "audit": 2190}
    policy = RetentionPolicy.from_sections({"retention": {"rejects_days": 7}})
    assert policy.days["rejects"] == 7 and policy.days["audit"] == 2190
    now = datetime(2026, 11, 29, tzinfo=UTC)
    assert policy.cutoff("rejects", now) == now - timedelta(days=7)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"reject_days": 7}, "[retention] reject_days: unknown; known: accepted_events_days"),
        ({"rejects": 7}, "[retention] rejects: unknown"),
        ({"rejects_days": 0}, "[retention] rejects_days = 0: a whole number of days"),
        ({"rejects_days": "7"}, "[retention] rejects_days = '7': a whole number of days"),
        ({"audit_days": True}, "[retention] audit_days = True: a whole number of days"),
        ({"audit_days": 10**6}, "1 to 36500"),
    ],
)
def test_bad_values_are_named(table: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyFileError) as refused:
        RetentionPolicy.from_sections({"retention": table}, "policy.toml")
    assert message in str(refused.value) and str(refused.value).startswith("policy.toml:")

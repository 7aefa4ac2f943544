"""Delivery decisions (DESIGN §2, §7), pure: when to try again, whether a failure is
temporary or permanent, and what state an alert moves to after an attempt.

The scheduler loop (``scheduler.py``) does the I/O and asks this module what to do.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from schemas.base import derived_id
from schemas.messages import AlertState
from services.notifier.policy import RetryPolicy

# Temporary failures are retried for at least the policy's window (4 hours by default)
# after the first attempt; an alert still undelivered then is a permanent failure (and
# escalates).
DEFAULT_RETRY = RetryPolicy()
RETRY_WINDOW = DEFAULT_RETRY.window
JITTER = 0.2  # +/- 20 %: copies of the notifier do not retry a dead relay in lockstep

MESSAGE_ID_DOMAIN = "missing-episode-relay"


class FailureKind(StrEnum):
    TEMPORARY = "temporary"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class SendFailure:
    """Why one attempt failed. ``code`` is the SMTP reply code when the server gave one."""

    kind: FailureKind
    detail: str
    code: int | None = None


@dataclass(frozen=True)
class NextStep:
    state: AlertState
    due_at: datetime | None
    detail: str | None = None


def message_id(alert_id: str) -> str:
    """The SMTP Message-ID: derived from the alert id, so a resend after a crash is
    recognisable downstream as the same message."""
    return f"<{alert_id}@{MESSAGE_ID_DOMAIN}>"


def status_message_id(alert_id: str, state: str, attempt: int) -> str:
    """Deterministic id of an ``alert-status`` message, so a repeat is de-duplicated."""
    return derived_id("alert-status", alert_id, state, str(attempt))


def classify_smtp_code(code: int | None) -> FailureKind:
    """5xx is permanent (the server will never take it); 4xx, no reply at all
    (connection refused, timeout, dropped line) and anything odd are temporary."""
    if code is not None and 500 <= code <= 599:
        return FailureKind.PERMANENT
    return FailureKind.TEMPORARY


def backoff(
    attempt: int, rng: random.Random | None = None, policy: RetryPolicy = DEFAULT_RETRY
) -> timedelta:
    """Delay after failed attempt number ``attempt`` (1-based): 30 s doubling to a
    30-minute cap by default, with jitter."""
    doublings = min(max(attempt - 1, 0), 30)  # 2**30 first delays exceed any cap
    base = min(policy.first_delay * (2**doublings), policy.max_delay)
    factor = 1.0 + (rng or random).uniform(-JITTER, JITTER)
    return base * factor


def after_failure(
    failure: SendFailure,
    attempt: int,
    first_attempt_at: datetime,
    now: datetime,
    rng: random.Random | None = None,
    policy: RetryPolicy = DEFAULT_RETRY,
) -> NextStep:
    """The state after a failed attempt."""
    if failure.kind is FailureKind.PERMANENT:
        return NextStep(AlertState.PERMANENT_FAILURE, None, failure.detail)
    if now - first_attempt_at >= policy.window:
        hours = policy.window.total_seconds() / 3600
        return NextStep(
            AlertState.PERMANENT_FAILURE,
            None,
            f"gave up after {attempt} attempts over {hours:g} hours; last: {failure.detail}",
        )
    return NextStep(
        AlertState.TEMPORARY_FAILURE, now + backoff(attempt, rng, policy), failure.detail
    )


def retry_schedule(
    rng: random.Random | None = None, policy: RetryPolicy = DEFAULT_RETRY
) -> list[timedelta]:
    """Offsets from the first attempt at which retries happen until giving up (for
    tests and documentation): the last offset is at least the policy's window."""
    offsets: list[timedelta] = []
    elapsed = timedelta(0)
    attempt = 1
    while elapsed < policy.window:
        elapsed += backoff(attempt, rng, policy)
        offsets.append(elapsed)
        attempt += 1
    return offsets

"""Delivery decisions: backoff schedule, classification, next state, SMTP URL parsing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import aiosmtplib
import pytest

from schemas.messages import AlertState
from services.notifier.delivery import (
    RETRY_WINDOW,
    FailureKind,
    SendFailure,
    after_failure,
    backoff,
    classify_smtp_code,
    message_id,
    retry_schedule,
    status_message_id,
)
from services.notifier.smtp import SmtpUrlError, classify_exception, parse_smtp_url

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TEMP = SendFailure(FailureKind.TEMPORARY, "421 try later", 421)


def test_message_id_derives_from_the_alert_id() -> None:
    assert message_id("abc") == "<abc@missing-episode-relay>"
    assert message_id("abc") == message_id("abc") != message_id("abd")
    assert status_message_id("a", "sent", 1) == status_message_id("a", "sent", 1)
    assert status_message_id("a", "sent", 1) != status_message_id("a", "sent", 2)


def test_backoff_starts_near_30_seconds_doubles_and_is_capped() -> None:
    rng = random.Random(1)
    delays = [backoff(n, rng) for n in range(1, 15)]
    assert timedelta(seconds=24) <= delays[0] <= timedelta(seconds=36)
    assert timedelta(seconds=48) <= delays[1] <= timedelta(seconds=72)
    assert all(d <= timedelta(minutes=36) for d in delays)
    assert delays[-1] >= timedelta(minutes=24)


@pytest.mark.parametrize("seed", range(20))
def test_retries_cover_at_least_four_hours(seed: int) -> None:
    offsets = retry_schedule(random.Random(seed))
    assert offsets[-1] >= timedelta(hours=4)
    assert len(offsets) < 30  # not a hot loop


def test_temporary_failures_retry_then_give_up_after_the_window() -> None:
    rng = random.Random(0)
    now, attempt = T0, 1
    while True:
        step = after_failure(TEMP, attempt, T0, now, rng)
        if step.state is AlertState.PERMANENT_FAILURE:
            break
        assert step.state is AlertState.TEMPORARY_FAILURE
        assert step.due_at is not None and step.due_at > now
        now, attempt = step.due_at, attempt + 1
    assert now - T0 >= RETRY_WINDOW
    assert "gave up" in (step.detail or "")


def test_permanent_failure_is_final_at_once() -> None:
    step = after_failure(SendFailure(FailureKind.PERMANENT, "550 no such user", 550), 1, T0, T0)
    assert step.state is AlertState.PERMANENT_FAILURE and step.due_at is None


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (None, FailureKind.TEMPORARY),
        (421, FailureKind.TEMPORARY),
        (451, FailureKind.TEMPORARY),
        (550, FailureKind.PERMANENT),
        (554, FailureKind.PERMANENT),
        (250, FailureKind.TEMPORARY),
    ],
)
def test_codes(code: int | None, kind: FailureKind) -> None:
    assert classify_smtp_code(code) is kind


def test_exceptions_are_classified() -> None:
    refused = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(550, "no such user", "x@y")]
    )
    assert classify_exception(refused).kind is FailureKind.PERMANENT
    assert classify_exception(refused).code == 550
    assert (
        classify_exception(aiosmtplib.SMTPDataError(554, "rejected")).kind is FailureKind.PERMANENT
    )
    assert (
        classify_exception(aiosmtplib.SMTPResponseException(451, "later")).kind
        is FailureKind.TEMPORARY
    )
    assert classify_exception(ConnectionRefusedError(111, "refused")).kind is FailureKind.TEMPORARY
    assert classify_exception(aiosmtplib.SMTPConnectError("no")).kind is FailureKind.TEMPORARY
    assert classify_exception(aiosmtplib.SMTPTimeoutError("slow")).kind is FailureKind.TEMPORARY
    assert (
        classify_exception(aiosmtplib.SMTPServerDisconnected("gone")).kind is FailureKind.TEMPORARY
    )


def test_smtp_urls() -> None:
    plain = parse_smtp_url("smtp://127.0.0.1:8025")
    assert (plain.host, plain.port, plain.use_tls, plain.start_tls) == (
        "127.0.0.1",
        8025,
        False,
        False,
    )
    tls = parse_smtp_url("smtps://us%40er:p%3Ass@mail.example")
    assert (tls.port, tls.use_tls, tls.username, tls.password) == (465, True, "us@er", "p:ss")
    assert parse_smtp_url("smtp://u:p@mail.example:587?starttls=true").start_tls
    assert "p:ss" not in repr(tls)
    with pytest.raises(SmtpUrlError, match="scheme"):
        parse_smtp_url("http://mail.example")


def test_rhi_task_is_due_72_hours_after_return_at_the_latest() -> None:
    from services.notifier.tasks import task_due_at

    assert task_due_at(T0, T0 + timedelta(hours=72)) == T0 + timedelta(hours=72)
    assert task_due_at(T0, T0 + timedelta(hours=100)) == T0 + timedelta(hours=72)
    assert task_due_at(T0, T0 + timedelta(hours=24)) == T0 + timedelta(hours=24)

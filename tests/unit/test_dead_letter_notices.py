"""Operations notices of dead letters (issue 17): the policy's operations_email, and the
email itself: where the letter is, why, how to look at it; never its payload."""

from __future__ import annotations

import email.policy
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from schemas.messages import DeadLetterV1
from services.notifier.dead_letter_notices import (
    DeadLetterSummary,
    compose_notice,
    notice_message_id,
    operations_email,
)
from services.notifier.operations import _summary
from services.notifier.policy import PolicyError
from services.router.policy import Policy

FAILED_AT = datetime(2026, 12, 7, 21, 5, tzinfo=UTC)
LETTER = DeadLetterSummary(
    letter_id="episode-events.v1.dlq:2:17",
    topic="episode-events.v1",
    consumer="router",
    reason="no responsible local authority for event 6f1c (2 local authorities imported, "
    "none named for this child)",
    failed_at=FAILED_AT,
)
SENDER = "Missing Episode Relay <relay@council.example>"


def parsed(letter: DeadLetterSummary = LETTER, number: int = 1) -> EmailMessage:
    raw = compose_notice(letter, number, "ops@council.example", SENDER, FAILED_AT).raw
    message = message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_a_notice_says_where_the_letter_is_why_and_how_to_look_at_it() -> None:
    message = parsed()
    assert message["To"] == "ops@council.example"
    assert message["Subject"] == (
        "Relay: a message could not be processed: dead letter episode-events.v1.dlq:2:17 "
        "on episode-events.v1"
    )
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Relay-Dead-Letter"] == "episode-events.v1.dlq:2:17"
    text = body(message)
    for expected in (
        "Letter:    episode-events.v1.dlq:2:17",
        "Topic:     episode-events.v1",
        "Consumer:  router",
        "Failed at: Monday 7 December 2026 at 21:05 (GMT)",
        "Reason:    no responsible local authority for event 6f1c",
        "relay dlq list --topic episode-events.v1",
        "relay dlq retry episode-events.v1.dlq:2:17",
        "may not have been told",
    ):
        assert expected in text, expected


def test_each_days_notice_has_its_own_stable_message_id() -> None:
    first, again, second = parsed(number=1), parsed(number=1), parsed(number=2)
    assert first["Message-ID"] == again["Message-ID"] == notice_message_id(LETTER.letter_id, 1)
    assert second["Message-ID"] != first["Message-ID"]
    assert "notice 2" in second["Subject"] and "This is notice 2" in body(second)


def test_nothing_in_a_letter_adds_a_header_or_a_line() -> None:
    sly = DeadLetterSummary(
        "alerts-requested.v1.dlq:0:1",
        "alerts-requested.v1",
        "notifier\r\nBcc: all@example.com",
        "bad\r\nBcc: all@example.com\n\nfake paragraph" + "x" * 2000,
        None,
    )
    message = parsed(sly)
    assert message["Bcc"] is None
    reason_line = next(line for line in body(message).splitlines() if "Reason:" in line)
    assert "fake paragraph" in reason_line and reason_line.endswith("...")
    assert len(reason_line) < 520
    assert "Failed at: unknown" in body(message)


def test_a_notice_never_carries_the_payload() -> None:
    letter = DeadLetterV1(
        message_id="dlq:router:episode-events.v1:0:5",
        topic="episode-events.v1",
        partition=0,
        offset=5,
        key="10:MP/1",
        consumer="router",
        error="no responsible local authority for event 6f1c",
        failed_at=FAILED_AT,
        payload={"child": {"given_name": "Amelia", "family_name": "O'Neill"}},
    )
    summary = _summary("episode-events.v1.dlq:0:9", letter.model_dump_json().encode())
    assert summary == DeadLetterSummary(
        "episode-events.v1.dlq:0:9", "episode-events.v1", "router", letter.error, FAILED_AT
    )
    raw = compose_notice(summary, 1, "ops@council.example", SENDER, FAILED_AT).raw
    assert b"Amelia" not in raw and b"Neill" not in raw
    unreadable = _summary("rhi-tasks-requested.v1.dlq:1:3", b"{not json")
    assert unreadable.topic == "rhi-tasks-requested.v1"
    assert unreadable.reason == "the dead letter itself does not parse"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("relay-ops@council.example", "relay-ops@council.example"),
        ("  relay-ops@council.example ", "relay-ops@council.example"),
    ],
)
def test_operations_email(value: str | None, expected: str | None) -> None:
    sections: dict[str, Any] = {} if value is None else {"operations_email": value}
    assert operations_email(sections, "policy.toml") == expected


@pytest.mark.parametrize(
    "value",
    ["ops", "ops@council", "a@b.example, c@d.example", "Ops <ops@council.example>", 42, ["a@b.c"]],
)
def test_a_bad_operations_email_is_refused_naming_the_key(value: Any) -> None:
    with pytest.raises(PolicyError, match=r"policy\.toml: operations_email"):
        operations_email({"operations_email": value}, "policy.toml")


def test_the_router_reads_past_the_top_level_operations_email(tmp_path: Path) -> None:
    only = tmp_path / "only.toml"
    only.write_text('operations_email = "ops@council.example"\nrepeat_threshold = 2\n')
    assert Policy.from_toml(only) == Policy(repeat_threshold=2)

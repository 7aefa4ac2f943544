"""Operations notices of dead letters on the routing path (issue 17; pure).

A message that cannot be processed on ``episode-events``, ``alerts-requested`` or
``rhi-tasks-requested`` may mean nobody was told about a missing child. The policy's
``operations_email`` is told within a minute, and again every day until the letter is
sent back with ``relay dlq retry`` (services/notifier/operations.py does the reading and
sending). A notice says where the letter is and why it failed, never what it carries:
the payload may hold a child's details and stays on the broker, behind ``relay dlq``.
"""

from __future__ import annotations

import email.policy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from schemas.base import derived_id
from schemas.catalogue import ALERTS_REQUESTED, EPISODE_EVENTS, RHI_TASKS_REQUESTED, Topic
from services.notifier.delivery import MESSAGE_ID_DOMAIN
from services.notifier.policy import PolicyError
from services.notifier.rendering import OutgoingEmail, header_value, local_time

# The topics on the path from a police event to an email: a letter on any of them can
# leave an organisation untold.
WATCHED: tuple[Topic, ...] = (EPISODE_EVENTS, ALERTS_REQUESTED, RHI_TASKS_REQUESTED)
NOTICE_EVERY = timedelta(days=1)
POLICY_KEY = "operations_email"

# What a letter on each topic may have left undone, in the operator's words.
_AT_STAKE = {
    EPISODE_EVENTS.wire: "an accepted police event about a missing child: until it is "
    "processed, the organisations that must know about the episode may not have been told",
    ALERTS_REQUESTED.wire: "an alert for one organisation: until it is processed, that "
    "organisation may not have been sent it",
    RHI_TASKS_REQUESTED.wire: "a return home interview task: until it is processed, the "
    "local authority may not have been asked to offer the interview",
}
_REASON_CHARS = 500
_ADDR_SPEC = re.compile(r"^[^@\s,;<>()\[\]\"\\]+@[^@\s,;<>()\[\]\"\\]+\.[^@\s,;<>()\[\]\"\\]+$")
_SMTP = email.policy.SMTP  # CRLF line ends; headers checked as they are set


def operations_email(sections: Mapping[str, Any], source: str = "policy") -> str | None:
    """The policy file's top-level ``operations_email`` (None when unset): one address
    that is told about dead letters. Raises :class:`PolicyError` naming the key."""
    value = sections.get(POLICY_KEY)
    if value is None:
        return None
    example = 'e.g. operations_email = "relay-support@council.example"'
    if not isinstance(value, str):
        raise PolicyError(f"{source}: {POLICY_KEY}: one email address as a string, {example}")
    address = value.strip()
    if not _ADDR_SPEC.match(address):
        raise PolicyError(f"{source}: {POLICY_KEY}: {value!r} is not one email address, {example}")
    try:
        Address(addr_spec=address)
    except (ValueError, IndexError) as exc:
        raise PolicyError(
            f"{source}: {POLICY_KEY}: {value!r} is not one email address, {example}"
        ) from exc
    return address


@dataclass(frozen=True)
class DeadLetterSummary:
    """A dead letter as the notices see it: its id on the broker (as ``relay dlq`` names
    it, ``<topic>.dlq:<partition>:<offset>``), where and why it failed. No payload."""

    letter_id: str
    topic: str
    consumer: str
    reason: str
    failed_at: datetime | None


def notice_message_id(letter_id: str, number: int) -> str:
    """The SMTP Message-ID of a letter's ``number``-th notice: a resend after a crash is
    recognisably the same message, and each day's notice a new one."""
    return f"<{derived_id('dead-letter-notice', letter_id, str(number))}@{MESSAGE_ID_DOMAIN}>"


def notice_subject(letter: DeadLetterSummary, number: int) -> str:
    where = f"dead letter {letter.letter_id} on {letter.topic}"
    if number == 1:
        return header_value(f"Relay: a message could not be processed: {where}")
    return header_value(f"Relay: still not sent back (notice {number}): {where}")


def notice_text(letter: DeadLetterSummary, number: int) -> str:
    """The body: where the letter is, why it failed, what may be left undone, and the
    commands to look at it and send it back. Every value on one line of its own."""
    letter_id, topic = header_value(letter.letter_id), header_value(letter.topic)
    reason = header_value(letter.reason)
    if len(reason) > _REASON_CHARS:
        reason = reason[: _REASON_CHARS - 3] + "..."
    at_stake = _AT_STAKE.get(letter.topic, "a message on the routing path")
    failed = local_time(letter.failed_at) if letter.failed_at else "unknown"
    again = (
        "This is the first notice."
        if number == 1
        else f"This is notice {number}: the letter has waited at least {number - 1} day(s)."
    )
    return (
        f"The {header_value(letter.consumer)} could not process a message on {topic} and "
        "set it aside as a dead letter.\n"
        f"It was {at_stake}.\n"
        "\n"
        f"  Letter:    {letter_id}\n"
        f"  Topic:     {topic}\n"
        f"  Consumer:  {header_value(letter.consumer)}\n"
        f"  Failed at: {failed}\n"
        f"  Reason:    {reason}\n"
        "\n"
        "To look at it (ids and reasons, never the message itself):\n"
        f"  relay dlq list --topic {topic}\n"
        "\n"
        "Once the cause is fixed, send it back to its topic:\n"
        f"  relay dlq retry {letter_id}\n"
        "\n"
        f"{again} Another follows every day until the letter is sent back.\n"
        "This email holds no child's details: the message stays on the broker.\n"
    )


def compose_notice(
    letter: DeadLetterSummary, number: int, to: str, sender: str, now: datetime
) -> OutgoingEmail:
    """The ``number``-th notice of ``letter`` to ``to``, ready to send. Plain text only:
    operators copy the ids and commands out of it."""
    message = EmailMessage(policy=_SMTP)
    message["Subject"] = notice_subject(letter, number)
    message["From"] = header_value(sender)
    message["To"] = header_value(to)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = notice_message_id(letter.letter_id, number)
    message["X-Relay-Dead-Letter"] = header_value(letter.letter_id)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(notice_text(letter, number), charset="utf-8")
    return OutgoingEmail(parseaddr(header_value(sender))[1], message.as_bytes())

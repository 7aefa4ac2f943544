"""The email written as bytes (services/notifier/mime.py) reads, to the ``email``
package, as the message the ``email`` package itself wrote before issue 18: the same
headers in the same order with the same decoded values, the same parts, and the same
decoded bodies."""

from __future__ import annotations

import email.policy
from datetime import UTC, datetime
from email import message_from_bytes
from email.charset import QP, Charset
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from itertools import groupby
from typing import Any

import pytest

from schemas.messages import AlertKind, OrgKind
from services.notifier import mime
from services.notifier.delivery import message_id
from services.notifier.rendering import AlertContent, Renderer, header_value
from tests.unit.test_notifier_rendering import alert

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SENDER = "Relay Partnership <relay@relay.example>"

# The way the notifier built its emails before issue 18 (rendering.compose then).
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP
_WIRE = email.policy.compat32.clone(linesep="\r\n")


def _encoded(value: str, name: str) -> str | Header:
    if value.isascii():
        return value
    header = Header(header_name=name)
    for plain, words in groupby(value.split(" "), key=str.isascii):
        header.append(" ".join(words), "us-ascii" if plain else "utf-8")
    return header


def _text_part(text: str, subtype: str) -> MIMEText:
    part = MIMEText(text, subtype, _UTF8_QP)  # type: ignore[arg-type]
    del part["MIME-Version"]
    return part


def with_email_package(renderer: Renderer, alert: AlertContent, now: datetime) -> bytes:
    rendered = renderer.render(alert, now)
    msg: Message[str, Any] = MIMEMultipart("alternative")
    msg["Subject"] = _encoded(rendered.subject, "Subject")
    msg["From"] = formataddr(("Relay Partnership", "relay@relay.example"), "utf-8")
    msg["To"] = formataddr(
        (header_value(alert.recipient_name), header_value(alert.recipient_email)), "utf-8"
    )
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = _encoded(message_id(header_value(alert.alert_id)), "Message-ID")
    msg["X-Relay-Alert-Id"] = _encoded(header_value(alert.alert_id), "X-Relay-Alert-Id")
    msg["Auto-Submitted"] = "auto-generated"
    msg.attach(_text_part(rendered.text, "plain"))
    msg.attach(_text_part(rendered.html, "html"))
    return msg.as_bytes(policy=_WIRE)


def parsed(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert not message.defects
    return message


LONG = "Żaneta-Łucja " * 9


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"child_given_name": "Amélie", "child_family_name": "Ó Súilleabháin"},
        {"recipient_name": "Zoë's Académie, Morpeth"},
        {"recipient_name": "École Saint-Étienne"},
        {"recipient_name": "King Edward VI School, Morpeth (Upper) " * 3},
        {"child_given_name": LONG, "recipient_name": LONG},
        {"child_given_name": "李", "child_family_name": "小龙 😀"},
        {"police_contact_name": "DC  Sarah\tHall  ", "episode_ref": "E 1 = 2 =?utf-8?q?x?="},
        {"recipient": OrgKind.GP_PRACTICE, "child_nhs_number": "9434765919"},
        {"urgent": True, "child_family_name": "Dvořák"},
        {"kind": AlertKind.FOUND, "recipient": OrgKind.LOCAL_AUTHORITY},
    ],
)
def test_the_bytes_read_as_the_email_package_wrote_them(changes: dict[str, Any]) -> None:
    renderer = Renderer("https://console.example/", SENDER)
    content = alert(**changes)
    ours = parsed(renderer.compose(content, NOW).raw)
    theirs = parsed(with_email_package(renderer, content, NOW))

    assert [(k, str(v)) for k, v in ours.items() if k != "Content-Type"] == [
        (k, str(v)) for k, v in theirs.items() if k != "Content-Type"
    ]
    assert ours.get_content_type() == theirs.get_content_type() == "multipart/alternative"
    ours_parts, theirs_parts = list(ours.iter_parts()), list(theirs.iter_parts())
    assert len(ours_parts) == len(theirs_parts) == 2
    for mine, reference in zip(ours_parts, theirs_parts, strict=True):
        assert mine.items() == reference.items()
        assert mine["Content-Transfer-Encoding"] == "quoted-printable"
        assert mine.get_content() == reference.get_content()


def test_lines_are_short_crlf_and_seven_bit() -> None:
    # (A name that is not ASCII goes in one encoded word, as formataddr makes it: some
    # parsers keep the space between two words of a display name.)
    raw = (
        Renderer("https://console.example/", SENDER)
        .compose(alert(recipient_name="Hillside " * 30, child_given_name="Ŵ" * 40), NOW)
        .raw
    )
    assert raw.isascii()
    lines = raw.split(b"\r\n")
    assert b"\n" not in b"".join(lines) and b"\r" not in b"".join(lines)
    assert max(len(line) for line in lines) <= 78
    assert raw.endswith(b"--\r\n")


def test_encoded_words_keep_their_spaces_and_stay_within_75_characters() -> None:
    value = "a " + "Ł ó " * 40 + "z"
    words = mime.encoded(value).split(" ")
    assert max(len(w) for w in words) <= 75
    header = parsed(mime.header("Subject", mime.encoded(value)) + b"\r\n")
    assert str(header["Subject"]) == value

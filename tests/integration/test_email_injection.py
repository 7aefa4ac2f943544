"""Nothing in an alert can change the email it becomes: line breaks and control
characters in names, organisation names, references and addresses add no header and no
recipient; template syntax in a name is printed, not run; markup is escaped in the HTML
part. Through the real notifier (consumer,
store, renderer, SMTP client) into the real SMTP sink, and at the ingest API."""

from __future__ import annotations

import email.policy
import re
import uuid
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from relay.smtp_sink import Received, SinkHandler
from schemas.catalogue import ALERTS_REQUESTED
from schemas.episode import EpisodeEventV1, PoliceContactV1
from schemas.messages import AlertRequestedV1, ChildSummaryV1, OrgKind, RecipientV1
from services.ingest.settings import IngestSettings
from services.runtime.settings import RelaySettings
from tests.conftest import eventually
from tests.integration.test_ingest_api import EPISODES, event, read_topic, running
from tests.integration.test_notifier_delivery import alert_rows, episode, notifier, publish

# The headers every alert has, each once; anything else was injected.
HEADERS = {
    "Subject",
    "From",
    "To",
    "Date",
    "Message-ID",
    "X-Relay-Alert-Id",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
}
CRLF_BCC = "\r\nBcc: x@evil.example"


def alert(
    code: str,
    kind: OrgKind = OrgKind.SCHOOL,
    *,
    given_name: str = "Amelia",
    family_name: str = "Stone",
    recipient_name: str | None = None,
    recipient_email: str | None = None,
    episode_ref: str | None = None,
    contact: PoliceContactV1 | None = None,
) -> AlertRequestedV1:
    ep = episode()
    if episode_ref is not None:
        ep = ep.model_copy(update={"episode_ref": episode_ref})
    alert_id = str(uuid.uuid4())
    return AlertRequestedV1(
        message_id=alert_id,
        alert_id=alert_id,
        kind="reported",
        recipient=RecipientV1(
            code=code,
            kind=kind,
            name=recipient_name or f"Org {code}",
            email=recipient_email or f"dsl-{code.lower()}@org.example",
        ),
        child=ChildSummaryV1(
            given_name=given_name, family_name=family_name, date_of_birth="2013-04-07"
        ),
        episode=ep,
        police_contact=contact or PoliceContactV1(name="PC Hart", phone="0191 555 0100"),
        reason="on roll",
        policy_rule="reported.default",
        requested_at=ep.occurred_at,
    )


async def deliver(
    settings: RelaySettings, inbox: SinkHandler, alerts: list[AlertRequestedV1]
) -> tuple[dict[str, Received], dict[str, Any]]:
    """Each alert through the real notifier to a final state: ``(received by alert id,
    alert rows by alert id)``."""
    async with notifier(settings) as app:
        for message in alerts:
            await publish(app, settings, ALERTS_REQUESTED, message.alert_id, message)

        async def settled() -> dict[str, Any] | None:
            rows = await alert_rows(app)
            final = {"sent", "permanent-failure"}
            done = len(rows) == len(alerts) and all(r.state in final for r in rows.values())
            return rows if done else None

        rows = await eventually(settled, 60)
    received = {r.message["X-Relay-Alert-Id"]: r for r in inbox.received}
    return received, rows


def parsed(item: Received) -> EmailMessage:
    message = BytesParser(policy=email.policy.default).parsebytes(item.data)
    assert isinstance(message, EmailMessage)
    return message


def assert_only_expected_headers(item: Received, recipient: str) -> EmailMessage:
    """The envelope goes to the one recipient; the header block holds exactly the
    expected headers, each once, To naming only the recipient."""
    assert item.rcpt_tos == [recipient]
    head = item.data.split(b"\r\n\r\n", 1)[0].decode("ascii")  # headers are 7-bit
    starts = [line.split(":", 1)[0] for line in head.split("\r\n") if line[:1] not in " \t"]
    assert sorted(starts) == sorted(HEADERS), starts
    assert "\n" not in head.replace("\r\n", "") and "\r" not in head.replace("\r\n", "")
    message = parsed(item)
    assert [a.addr_spec for a in message["To"].addresses] == [recipient]
    for name in ("Cc", "Bcc", "Reply-To", "X-Injected"):
        assert message[name] is None
    return message


def text_and_html(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


async def test_line_breaks_and_controls_in_an_alert_add_no_header_and_no_recipient(
    settings: RelaySettings, smtp_server: tuple[str, SinkHandler]
) -> None:
    _, inbox = smtp_server
    # These reach the notifier unchecked (its messages carry plain strings): the
    # renderer's own defence is what is tested, whatever a producer lets through.
    sent = {
        "names": alert("100001", given_name=f"Amelia{CRLF_BCC}", family_name="Stone\nCc: y@e.x"),
        "organisation": alert(
            "A81001",
            OrgKind.GP_PRACTICE,
            recipient_name=f"Surgery{CRLF_BCC}\r\n\r\n<b>body</b>",
        ),
        "reference": alert("E06000057", OrgKind.LOCAL_AUTHORITY, episode_ref=f"E1{CRLF_BCC}"),
        "unicode-breaks": alert(
            "100002",
            given_name="Amelia\u2028Bcc: x@evil.example\u0085X-Injected: 1",
            family_name="Stone\x0bCc: y@evil.example\x0c\x1b[2J",
            recipient_name="School\u2029Bcc: x@evil.example",
            episode_ref="E2\x1cBcc: x@evil.example",
        ),
        "contact": alert(
            "Y1",
            OrgKind.YOT,
            contact=PoliceContactV1(
                name=f"PC Hart{CRLF_BCC}", phone="0191 555 0100\r\nX-Injected: 1"
            ),
        ),
    }
    refused = {
        "crlf-address": alert("100003", recipient_email=f"dsl@school.example{CRLF_BCC}"),
        "lf-address": alert("100004", recipient_email="dsl@school.example\nBcc: x@evil.example"),
        "list-address": alert("100005", recipient_email="dsl@school.example, x@evil.example"),
        "named-address": alert("100006", recipient_email="Evil <x@evil.example>"),
        "vt-address": alert("100007", recipient_email="dsl@school.example\x0bx@evil.example"),
    }
    received, rows = await deliver(settings, inbox, [*sent.values(), *refused.values()])

    assert len(inbox.received) == len(sent)
    rcpts = [rcpt for item in inbox.received for rcpt in item.rcpt_tos]
    assert sorted(rcpts) == sorted(m.recipient.email for m in sent.values())
    for name, message in sent.items():
        assert rows[message.alert_id].state == "sent", name
        got = assert_only_expected_headers(received[message.alert_id], message.recipient.email)
        assert "\r" not in got["Subject"] and "\n" not in got["Subject"]
        text, html = text_and_html(got)
        for line in text.splitlines():  # no value can start a line of its own either
            assert not line.startswith(("Bcc:", "Cc:", "X-Injected:")), (name, line)
        assert "<b>body</b>" not in html
    for name, message in refused.items():
        row = rows[message.alert_id]
        assert row.state == "permanent-failure", name
        assert message.alert_id not in received

    names = parsed(received[sent["names"].alert_id])
    text, _ = text_and_html(names)
    assert "Amelia Bcc: x@evil.example Stone Cc: y@e.x" in text
    reference = parsed(received[sent["reference"].alert_id])
    assert "police ref 10/E1 Bcc: x@evil.example" in reference["Subject"]
    organisation = parsed(received[sent["organisation"].alert_id])
    assert organisation["To"].addresses[0].display_name.startswith("Surgery Bcc: x@evil")


async def test_template_syntax_in_names_is_printed_not_run(
    settings: RelaySettings, smtp_server: tuple[str, SinkHandler]
) -> None:
    _, inbox = smtp_server
    given, family = "{{ 7*7 }}", "{% for x in range(10) %}x{% endfor %}"
    kinds = [
        ("100001", OrgKind.SCHOOL),
        ("A81001", OrgKind.GP_PRACTICE),
        ("E06000057", OrgKind.LOCAL_AUTHORITY),
        ("Y1", OrgKind.YOT),
        ("M1", OrgKind.MSET_PANEL),
    ]
    templated = [
        alert(
            code,
            kind,
            given_name=given,
            family_name=family,
            recipient_name="{{ config }} {{ self.__init__ }}",
            episode_ref="{{ 6*7 }}",
            contact=PoliceContactV1(name="{{ 6*7 }}", email="hart@police.example"),
        )
        for code, kind in kinds
    ]
    received, rows = await deliver(settings, inbox, templated)

    for message in templated:
        assert rows[message.alert_id].state == "sent", message.recipient.kind
        got = assert_only_expected_headers(received[message.alert_id], message.recipient.email)
        assert "police ref 10/{{ 6*7 }}" in got["Subject"]
        text, html = text_and_html(got)
        for part in (text, html):
            assert f"{given} {family}" in part, message.recipient.kind
            assert "{{ config }} {{ self.__init__ }}" in part
            assert "{{ 6*7 }}" in part
            # Nothing evaluated (7*7, 6*7); clock times (a deadline "by 10:42") aside.
            assert not re.search(r"\b(49|42)\b", re.sub(r"\b\d{1,2}:\d{2}(:\d{2})?\b", "", part))
            assert "xxxxxxxxxx" not in part
            assert "<Config" not in part and "method-wrapper" not in part


MARKUP_GIVEN = "<script>alert(1)</script> & <b>Bold</b> \"q\" 'a'"
MARKUP_FAMILY = '<a href="https://evil.example/">Click</a>'


async def deliver_markup(
    settings: RelaySettings, inbox: SinkHandler
) -> tuple[AlertRequestedV1, str, str]:
    message = alert(
        "100002",
        given_name=MARKUP_GIVEN,
        family_name=MARKUP_FAMILY,
        recipient_name="<i>Hillside</i> & Co",
        contact=PoliceContactV1(name="<b>PC</b> Hart", email="hart@police.example"),
    )
    received, rows = await deliver(settings, inbox, [message])
    assert rows[message.alert_id].state == "sent"
    got = assert_only_expected_headers(received[message.alert_id], message.recipient.email)
    text, html = text_and_html(got)
    assert f"{MARKUP_GIVEN} {MARKUP_FAMILY}" in text  # plain text is not HTML: as it is
    return message, text, html


async def test_markup_in_names_is_escaped_in_the_details_and_greeting(
    settings: RelaySettings, smtp_server: tuple[str, SinkHandler]
) -> None:
    _, html = (await deliver_markup(settings, smtp_server[1]))[1:]
    escaped = (
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;Bold&lt;/b&gt; &#34;q&#34; "
        "&#39;a&#39; &lt;a href=&#34;https://evil.example/&#34;&gt;Click&lt;/a&gt;"
    )
    assert f"<td>{escaped}</td>" in html  # the details table
    assert "<p>Dear &lt;i&gt;Hillside&lt;/i&gt; &amp; Co,</p>" in html
    assert "&lt;b&gt;PC&lt;/b&gt; Hart" in html


async def test_no_markup_from_a_name_reaches_the_html_part(
    settings: RelaySettings, smtp_server: tuple[str, SinkHandler]
) -> None:
    _, html = (await deliver_markup(settings, smtp_server[1]))[1:]
    for raw in ("<script>", "<b>Bold</b>", 'href="https://evil.example/"', "<i>", "<b>PC</b>"):
        assert raw not in html


# At the ingest API ------------------------------------------------------------------------

UNLIMITED = {"ingest_rate_limit": "100000/second"}


async def test_ingest_refuses_a_contact_email_with_a_line_break_naming_the_field(
    settings: RelaySettings,
) -> None:
    async with running(IngestSettings.of(settings, **UNLIMITED)) as r:
        for address in (
            f"hart@police.example{CRLF_BCC}",
            "hart@police.example\nBcc: x@evil.example",
            "hart@police.example, x@evil.example",
            "PC Hart <hart@police.example>",
        ):
            body = event(police_contact={"name": "PC Hart", "email": address})
            answer = await r.client.post("/v1/episode-events", json=body, headers=r.auth())
            assert answer.status_code == 422, answer.text
            assert [e["field"] for e in answer.json()["errors"]] == ["police_contact.email"]
            assert "evil" not in answer.text  # the refused value is not echoed back


async def test_ingest_keeps_names_on_one_line_and_in_nfc(settings: RelaySettings) -> None:
    async with running(IngestSettings.of(settings, **UNLIMITED)) as r:
        body = event(
            "NB-INJ-1",
            child={
                "given_name": f"Jose\u0301{CRLF_BCC}",
                "family_name": "Mu\u0308ller\tSmith",
                "date_of_birth": "2012-05-04",
            },
            found_with=[{"given_name": "Zoe\u0308\r\nCc: y@evil.example", "family_name": "Ng"}],
            police_contact={"name": "PC\r\nHart", "phone": "0191\n555 0100"},
        )
        answer = await r.client.post("/v1/episode-events", json=body, headers=r.auth())
        assert answer.status_code == 202, answer.text
        [record] = await read_topic(settings, EPISODES, until="NB-INJ-1")
    published = EpisodeEventV1.model_validate_json(record.value)
    assert published.child.given_name == "Jos\u00e9 Bcc: x@evil.example"
    assert published.child.family_name == "M\u00fcller Smith"
    assert published.found_with[0].given_name == "Zo\u00eb Cc: y@evil.example"
    assert published.police_contact == PoliceContactV1(name="PC Hart", phone="0191 555 0100")
    text = record.value.decode()
    assert "\\r" not in text and "\\n" not in text  # no escaped line break anywhere

"""Rendering alerts: every (recipient kind x alert kind) pair renders under
StrictUndefined with the minimal content and nothing else; headers cannot be injected."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from schemas.messages import NOTIFIER_KINDS, AlertKind, OrgKind
from services.notifier.rendering import AlertContent, Renderer, RenderError

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ASKS = {
    OrgKind.SCHOOL: "Designated Safeguarding Lead",
    OrgKind.GP_PRACTICE: "practice safeguarding lead",
    OrgKind.YOT: "case worker",
    OrgKind.LOCAL_AUTHORITY: "missing children coordinator",
    OrgKind.MSET_PANEL: "next panel",
}


def alert(
    kind: AlertKind = AlertKind.REPORTED, recipient: OrgKind = OrgKind.SCHOOL, **changes: object
) -> AlertContent:
    base = AlertContent(
        alert_id="0b7e-alert",
        kind=kind.value,
        recipient_kind=recipient.value,
        recipient_name="Hillside <Primary> & Nursery",
        recipient_email="dsl@hillside.example",
        child_given_name="Amelia",
        child_family_name="O'Neill",
        child_date_of_birth=date(2013, 4, 7),
        force_code="10",
        episode_ref="E123",
        occurred_at=datetime(2026, 7, 1, 21, 5, tzinfo=UTC),
        police_contact_name="PC Jane Hart",
        police_contact_phone="0191 555 0100",
        police_contact_email="jane.hart@northumbria.police.example",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def renderer() -> Renderer:
    return Renderer("https://console.example/", "Relay <relay@relay.example>")


def body(msg: EmailMessage, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None
    return part.get_content()


REQUESTED_KINDS = [k for k in AlertKind if k not in NOTIFIER_KINDS]
# The police are told only by the notifier (answers), never by a routed alert.
ROUTED_RECIPIENTS = [k for k in OrgKind if k is not OrgKind.POLICE_FORCE]
# Notices that ask nothing of the recipient: no acknowledgement link, words of their own.
NOTICES = (AlertKind.WITHDRAWN, AlertKind.ANSWER)


@pytest.mark.parametrize("recipient", ROUTED_RECIPIENTS)
@pytest.mark.parametrize("kind", REQUESTED_KINDS)
def test_every_pair_renders_the_minimal_content(kind: AlertKind, recipient: OrgKind) -> None:
    msg = renderer().build(alert(kind, recipient), NOW)
    subject = str(msg["Subject"])
    assert "10/E123" in subject
    assert "Amelia" not in subject and "O'Neill" not in subject
    text, html = body(msg, "plain"), body(msg, "html")
    for content in (text, html.replace("&#39;", "'")):
        assert "Amelia O'Neill" in content
        assert "7 April 2013" in content
        assert "10/E123" in content
        assert "PC Jane Hart" in content and "0191 555 0100" in content
        # 21:05 UTC on 1 July is 22:05 in London (BST).
        assert "1 July 2026 at 22:05 (BST)" in content
        assert "https://console.example/alerts/0b7e-alert" in content
        assert ASKS[recipient] in content
    assert "Hillside &lt;Primary&gt; &amp; Nursery" in html


FOLLOW_UP_WORDS = {
    AlertKind.ESCALATION: (
        "You are the escalation contact of Hillside",
        "local authority will be told",
    ),
    AlertKind.AUTHORITY_ESCALATION: ("nor has its escalation", "contact Hillside"),
    AlertKind.RHI_REMINDER: ("by Friday 3 July 2026 at 22:05 (BST)", "record its outcome"),
    AlertKind.RHI_ESCALATION: ("The deadline has passed", "as soon as possible"),
    AlertKind.OUT_OF_HOURS: (
        "You are the out-of-hours team of Hillside Primary",
        "the office opens",
    ),
}


@pytest.mark.parametrize("event_type", ["reported", "returned"])
@pytest.mark.parametrize("kind", sorted(NOTIFIER_KINDS - set(NOTICES)))
def test_escalations_and_reminders_have_their_own_words_and_the_same_limits(
    kind: AlertKind, event_type: str
) -> None:
    content = alert(
        kind,
        OrgKind.LOCAL_AUTHORITY,
        event_type=event_type,
        reason="alert to Hillside not acknowledged by its deadline",
        about_recipient_name="Hillside Primary",
        respond_by=datetime(2026, 7, 3, 21, 5, tzinfo=UTC),
    )
    msg = renderer().build(content, NOW)
    subject = str(msg["Subject"])
    assert "10/E123" in subject and "Amelia" not in subject
    text, html = body(msg, "plain"), body(msg, "html")
    for words in (text, html.replace("&#39;", "'")):
        assert "Amelia O'Neill" in words and "7 April 2013" in words
        assert "https://console.example/alerts/0b7e-alert" in words
        for phrase in FOLLOW_UP_WORDS[kind]:
            assert phrase in " ".join(words.split())
    happened = "was reported missing" if event_type == "reported" else "returned on"
    assert happened in text


def test_an_escalation_says_when_the_alert_never_arrived() -> None:
    content = alert(
        AlertKind.ESCALATION,
        event_type="reported",
        reason="alert to Hillside could not be delivered",
        about_recipient_name="Hillside Primary",
    )
    assert "(it could not be delivered)" in body(renderer().build(content, NOW), "plain")


def test_school_is_told_not_to_approach_parents_and_la_gets_the_72_hours() -> None:
    school = body(renderer().build(alert(AlertKind.REPORTED), NOW), "plain")
    assert "check today's attendance register" in school
    assert "do not approach the child's parents" in school
    la = body(renderer().build(alert(AlertKind.RETURNED, OrgKind.LOCAL_AUTHORITY), NOW), "plain")
    assert "return home interview within 72 hours" in la


def test_headers_and_message_id() -> None:
    msg = renderer().build(alert(), NOW)
    assert msg["Message-ID"] == "<0b7e-alert@missing-episode-relay>"
    assert msg["X-Relay-Alert-Id"] == "0b7e-alert"
    assert msg["To"].addresses[0].addr_spec == "dsl@hillside.example"
    assert msg["From"].addresses[0].addr_spec == "relay@relay.example"
    assert msg["Date"].datetime == NOW


@pytest.mark.parametrize(
    "evil",
    [
        "x\r\nBcc: evil@attacker.example",
        "x\nBcc: evil@attacker.example",
        "x\rBcc: evil@attacker.example",
        "x\u2028Bcc: evil@attacker.example",
    ],
)
def test_values_cannot_inject_headers(evil: str) -> None:
    msg = renderer().build(
        alert(
            police_contact_name=evil,
            police_contact_phone=evil,
            police_contact_email=evil,
            recipient_name=evil,
            episode_ref=evil,
            alert_id="a" + evil.replace(" ", ""),
        ),
        NOW,
    )
    raw = msg.as_bytes(policy=policy.SMTP)
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Bcc"] is None
    assert all(name.lower() != "bcc" for name in parsed.keys())  # noqa: SIM118
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in header_block
    # The recipient stays the only one.
    assert [a.addr_spec for a in parsed["To"].addresses] == ["dsl@hillside.example"]


def test_bad_address_is_a_render_error() -> None:
    for email in ("not-an-address", "a@b.example, c@d.example", "a@b.example\r\nBcc: c@d"):
        with pytest.raises(RenderError):
            renderer().build(alert(recipient_email=email), NOW)


def test_no_risk_or_location_words_reach_the_email() -> None:
    """The content has no slot for them; this guards a template that grows one."""
    msg = renderer().build(alert(AlertKind.FOUND), NOW)
    text = body(msg, "plain").lower()
    for word in ("postcode", "found at", "found with", "cse", "county lines", "risk grade"):
        assert word not in text


def test_an_unknown_kind_is_an_error_not_an_odd_email() -> None:
    with pytest.raises(ValueError):
        renderer().build(replace(alert(), kind="sighted"), NOW)


def test_partnership_templates_are_searched_first(tmp_path: Path) -> None:
    (tmp_path / "school").mkdir()
    (tmp_path / "school" / "subject.txt").write_text("Partnership notice {{ police_ref }}")
    custom = Renderer("https://c.example", "r@relay.example", [tmp_path])
    msg = custom.build(alert(), NOW)
    assert str(msg["Subject"]) == "Partnership notice 10/E123"
    assert "Designated Safeguarding Lead" in body(msg, "plain")  # the rest is built in


def test_undefined_variables_are_errors(tmp_path: Path) -> None:
    (tmp_path / "school").mkdir()
    (tmp_path / "school" / "subject.txt").write_text("{{ risk_factors }}")
    custom = Renderer("https://c.example", "r@relay.example", [tmp_path])
    with pytest.raises(Exception, match="risk_factors"):
        custom.build(alert(), NOW)


def test_a_withdrawal_notice_asks_to_delete_the_alerts_it_names() -> None:
    content = alert(
        AlertKind.WITHDRAWN,
        OrgKind.SCHOOL,
        event_type="withdrawn",
        about_alert_ids="alert-one alert-two",
    )
    msg = renderer().build(content, NOW)
    assert str(msg["Subject"]).startswith("Please disregard and delete: police ref 10/E123")
    for words in (body(msg, "plain"), body(msg, "html").replace("&#39;", "'")):
        flat = " ".join(words.split())
        assert "delete it from your records" in flat
        assert "alerts alert-one, alert-two" in flat
        assert "Amelia O'Neill" in flat and "7 April 2013" in flat
        # It asks nothing: no acknowledgement link.
        assert "console.example" not in flat


def test_an_answer_tells_the_police_who_answered_what_and_when() -> None:
    content = alert(
        AlertKind.ANSWER,
        OrgKind.POLICE_FORCE,
        recipient_name="PC Jane Hart",
        about_recipient_name="Hillside Primary",
        answer="information",
        answer_information="Seen with two older boys <b>at the park</b>.\n\nAsk Mr Lee.",
        answered_at=datetime(2026, 7, 2, 7, 50, tzinfo=UTC),
    )
    msg = renderer().build(content, NOW)
    assert str(msg["Subject"]) == (
        "Hillside Primary answered your missing-child alert: police ref 10/E123"
    )
    text, html = body(msg, "plain"), body(msg, "html")
    for words in (text, html):
        flat = " ".join(words.split())
        assert "We have information that may help." in flat
        assert "Thursday 2 July 2026 at 08:50 (BST)" in flat
    assert "Seen with two older boys <b>at the park</b>." in text
    assert "&lt;b&gt;at the park&lt;/b&gt;" in html and "<p>Ask Mr Lee.</p>" in html


def test_the_child_is_here_now_reads_plainly() -> None:
    content = alert(
        AlertKind.ANSWER,
        OrgKind.POLICE_FORCE,
        about_recipient_name="Hillside Primary",
        answer="here-now",
        answered_at=datetime(2026, 7, 2, 7, 50, tzinfo=UTC),
    )
    text = body(renderer().build(content, NOW), "plain")
    assert "The child is with us now." in text
    assert "In their words" not in text

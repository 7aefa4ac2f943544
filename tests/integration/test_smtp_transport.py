"""The SMTP adapter against a real aiosmtpd server: connections pooled between batches,
a pooled connection the server dropped is replaced without failing the message,
STARTTLS and implicit TLS with certificates verified against a private CA (trustme),
and a certificate we cannot verify refused as a temporary failure."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller

from relay.embedded import free_port
from relay.smtp_sink import SinkHandler
from services.notifier.delivery import FailureKind
from services.notifier.rendering import OutgoingEmail
from services.notifier.smtp import SmtpMailer, SmtpUrlError, parse_smtp_url


class CountingHandler(SinkHandler):
    """The sink, counting the connections that said EHLO (one per connection)."""

    def __init__(self) -> None:
        super().__init__()
        self.connections = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        return responses


def message(n: int) -> OutgoingEmail:
    msg = EmailMessage()
    msg["From"] = "relay@relay.example"
    msg["To"] = f"r{n}@school.example"
    msg["Subject"] = f"test {n}"
    msg["Message-ID"] = f"<{n}@test>"
    msg.set_content("hello")
    return OutgoingEmail("relay@relay.example", msg.as_bytes(policy=policy.SMTP))


def start(handler: SinkHandler, port: int, **kwargs: Any) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller


@pytest.fixture
def ca(tmp_path: Path) -> Iterator[tuple[trustme.CA, Path, ssl.SSLContext]]:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    cafile = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(cafile))
    yield authority, cafile, server_context


async def test_connections_are_pooled_between_batches_and_a_dropped_one_replaced() -> None:
    port = free_port()
    handler = CountingHandler()
    controller = start(handler, port)
    mailer = SmtpMailer(f"smtp://127.0.0.1:{port}?pool=2")
    try:
        sent = 0
        for _batch in range(5):
            async with mailer.session() as smtp:
                for _ in range(4):
                    sent += 1
                    assert await smtp.send(message(sent), f"r{sent}@school.example") is None
        assert len(handler.received) == 20
        assert handler.connections == 1  # one connection, reused by every batch

        # The server goes away and comes back: the pooled connection is dead. The next
        # message goes out on a fresh connection, without a failed attempt.
        controller.stop()
        controller = start(handler, port)
        async with mailer.session() as smtp:
            assert await smtp.send(message(99), "r99@school.example") is None
        assert handler.connections == 2 and len(handler.received) == 21
    finally:
        await mailer.close()
        controller.stop()


async def test_starttls_verifies_the_server_against_the_given_ca(
    ca: tuple[trustme.CA, Path, ssl.SSLContext],
) -> None:
    _authority, cafile, server_context = ca
    port = free_port()
    handler = SinkHandler()
    controller = start(handler, port, tls_context=server_context, require_starttls=True)
    try:
        trusted = SmtpMailer(f"smtp://127.0.0.1:{port}?starttls=true&cafile={cafile}")
        async with trusted.session() as smtp:
            assert await smtp.send(message(1), "r1@school.example") is None
            assert await smtp.send(message(4), "r4@school.example") is None
        await trusted.close()
        assert [r.rcpt_tos for r in handler.received] == [
            ["r1@school.example"],
            ["r4@school.example"],
        ]

        untrusted = SmtpMailer(f"smtp://127.0.0.1:{port}?starttls=true")
        async with untrusted.session() as smtp:
            failure = await smtp.send(message(2), "r2@school.example")
        assert failure is not None and failure.kind is FailureKind.TEMPORARY
        assert "CERTIFICATE_VERIFY_FAILED" in failure.detail or "certificate" in failure.detail
        plain = SmtpMailer(f"smtp://127.0.0.1:{port}")  # the server insists on TLS
        async with plain.session() as smtp:
            refused = await smtp.send(message(3), "r3@school.example")
        assert refused is not None
        assert len(handler.received) == 2
    finally:
        controller.stop()


async def test_implicit_tls(ca: tuple[trustme.CA, Path, ssl.SSLContext]) -> None:
    _authority, cafile, server_context = ca
    port = free_port()
    handler = SinkHandler()
    controller = start(handler, port, ssl_context=server_context)
    try:
        mailer = SmtpMailer(f"smtps://127.0.0.1:{port}?cafile={cafile}")
        async with mailer.session() as smtp:
            # The sink offers PIPELINING: the exchange pipelined over TLS, twice.
            assert await smtp.send(message(1), "r1@school.example") is None
            assert await smtp.send(message(2), "r2@school.example") is None
        await mailer.close()
        assert [r.rcpt_tos for r in handler.received] == [
            ["r1@school.example"],
            ["r2@school.example"],
        ]
        assert [r.message["Message-ID"] for r in handler.received] == ["<1@test>", "<2@test>"]
        assert mailer.connections_opened == 1
    finally:
        controller.stop()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://mail.example", "scheme must be smtp or smtps"),
        ("smtp://mail.example?tls=yes", "unknown option tls"),
        ("smtp://mail.example?pool=0", "pool='0'"),
        ("smtp://mail.example?starttls=maybe", "starttls='maybe'"),
        ("smtp://mail.example?cafile=/nowhere/ca.pem", "is not a file"),
        ("smtp://mail.example:99999", "bad port"),
    ],
)
def test_bad_smtp_urls_are_refused_naming_the_setting(url: str, words: str) -> None:
    with pytest.raises(SmtpUrlError) as caught:
        parse_smtp_url(url)
    assert str(caught.value).startswith("RELAY_SMTP_URL") and words in str(caught.value)


def test_the_password_never_shows() -> None:
    target = parse_smtp_url("smtps://relay:s3cret%21@mail.example?verify=false&pool=4")
    assert target.password == "s3cret!" and target.pool == 4 and not target.verify
    assert "s3cret" not in repr(target) and target.port == 465

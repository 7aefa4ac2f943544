"""The SMTP exchange pipelined (RFC 2920, services/notifier/smtp_pipelining.py) against
a scripted server on a real socket: MAIL, RCPT and DATA in one write and their replies
read together, the same bytes on the wire as aiosmtplib's own exchange, and every
refusal, a dropped or silent server and 421 giving the failure they gave before, the
connection still usable after a refusal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from services.notifier.delivery import FailureKind
from services.notifier.rendering import OutgoingEmail
from services.notifier.smtp import SmtpMailer

SENDER = "relay@relay.example"
# Dots to stuff, a lone LF and a lone CR to make CRLF, no line end at the very end.
RAW = b"Subject: test\r\nMessage-ID: <1@test>\r\n\r\n.a dot\r\nlf\nand cr\r..\r\nlast"


@dataclass
class Script:
    """What the server says; ``pipelining``: it offers PIPELINING and holds its replies
    to an envelope until DATA has arrived, then sends all three in one write (a client
    that waited for each reply would wait for ever)."""

    pipelining: bool = True
    mail: str = "250 OK"
    rcpt: str = "250 OK"
    data: str = "354 End data with <CR><LF>.<CR><LF>"
    message: str = "250 Accepted"
    silent_after_envelope: bool = False
    received: list[bytes] = field(default_factory=list)  # each connection's bytes
    connections: int = 0


async def _serve(
    script: Script, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    script.connections += 1
    seen = bytearray()
    script.received.append(b"")
    index = len(script.received) - 1
    held: list[str] = []

    async def say(*replies: str) -> None:
        writer.write("".join(f"{r}\r\n" for r in replies).encode())
        await writer.drain()

    await say("220 scripted ESMTP")
    try:
        while line := await reader.readline():
            seen += line
            script.received[index] = bytes(seen)
            verb = line[:4].upper()
            if verb == b"EHLO":
                extras = ["250-PIPELINING"] if script.pipelining else []
                await say("250-scripted", *extras, "250-SIZE 1000000", "250 HELP")
            elif verb in (b"MAIL", b"RCPT"):
                reply = script.mail if verb == b"MAIL" else script.rcpt
                if script.pipelining:
                    held.append(reply)
                else:
                    await say(reply)
            elif verb == b"DATA":
                if script.silent_after_envelope:
                    continue
                await say(*held, script.data)
                held.clear()
                if script.data.startswith("354"):
                    while (body := await reader.readline()) != b".\r\n":
                        seen += body
                    seen += b".\r\n"
                    script.received[index] = bytes(seen)
                    await say(script.message)
                    if script.message.startswith("421"):
                        writer.close()
                        return
            elif verb == b"RSET":
                held.clear()
                await say("250 OK")
            elif verb == b"QUIT":
                await say("221 Bye")
                break
            else:
                await say("502 not here")
    finally:
        writer.close()


@asynccontextmanager
async def server(script: Script) -> AsyncIterator[str]:
    listener = await asyncio.start_server(lambda r, w: _serve(script, r, w), "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"smtp://127.0.0.1:{port}"
    finally:
        listener.close()


def message(n: int) -> OutgoingEmail:
    return OutgoingEmail(SENDER, RAW.replace(b"<1@test>", f"<{n}@test>".encode()))


def exchanges(transcript: bytes) -> list[bytes]:
    """The bytes the client sent for each message (from its MAIL to its final dot)."""
    return [
        b"MAIL FROM:" + part[: part.index(b"\r\n.\r\n") + 5]
        for part in transcript.split(b"MAIL FROM:")[1:]
    ]


async def test_the_envelope_goes_in_one_write_with_the_same_bytes_as_without_pipelining() -> None:
    transcripts = {}
    for pipelining in (True, False):
        script = Script(pipelining=pipelining)
        async with server(script) as url:
            mailer = SmtpMailer(url, timeout_s=5)
            async with mailer.session() as smtp:
                for n in (1, 2, 3):  # each pipelined (or not)
                    assert await smtp.send(message(n), f"r{n}@school.example") is None
            await mailer.close()
        assert script.connections == 1
        transcripts[pipelining] = script.received[0]
    assert exchanges(transcripts[True]) == exchanges(transcripts[False])
    for n, sent in enumerate(exchanges(transcripts[True]), start=1):
        assert sent.startswith(f"MAIL FROM:<{SENDER}> size=".encode())
        assert b"\r\nRCPT TO:<r%d@school.example>\r\nDATA\r\nSubject" % n in sent
        assert sent.endswith(b"\r\n..a dot\r\nlf\r\nand cr\r\n...\r\nlast\r\n.\r\n")
    assert len(exchanges(transcripts[True])) == 3


async def test_a_refused_recipient_is_a_permanent_failure_and_no_message_is_sent() -> None:
    script = Script()
    async with server(script) as url:
        mailer = SmtpMailer(url, timeout_s=5)
        async with mailer.session() as smtp:
            assert await smtp.send(message(1), "r1@school.example") is None
            script.rcpt, script.data = "550 5.1.1 No such mailbox", "554 No valid recipients"
            failure = await smtp.send(message(2), "r2@school.example")
            assert failure is not None and failure.kind is FailureKind.PERMANENT
            assert failure.code == 550 and "No such mailbox" in failure.detail
            script.rcpt, script.data = "250 OK", "354 go on"
            assert await smtp.send(message(3), "r3@school.example") is None
        await mailer.close()
    transcript = b"".join(script.received)
    assert b"<2@test>" not in transcript  # no message after a refusal
    assert b"RCPT TO:<r2@school.example>\r\nDATA\r\nRSET\r\n" in transcript
    assert b"<3@test>" in transcript


async def test_data_taken_after_a_refusal_is_ended_with_no_message() -> None:
    script = Script(rcpt="550 No such mailbox", data="354 go on anyway")
    async with server(script) as url:
        mailer = SmtpMailer(url, timeout_s=5)
        async with mailer.session() as smtp:
            await smtp.send(message(1), "r1@school.example")
            failure = await smtp.send(message(2), "r2@school.example")
            assert failure is not None and failure.code == 550
        await mailer.close()
    transcript = b"".join(script.received)
    assert b"<2@test>" not in transcript
    assert b"RCPT TO:<r2@school.example>\r\nDATA\r\n.\r\nRSET\r\n" in transcript


async def test_a_refused_sender_and_a_refused_message_keep_their_kind() -> None:
    script = Script()
    async with server(script) as url:
        mailer = SmtpMailer(url, timeout_s=5)
        async with mailer.session() as smtp:
            assert await smtp.send(message(1), "r1@school.example") is None
            script.mail, script.data = "451 4.3.0 Try later", "503 Bad sequence"
            failure = await smtp.send(message(2), "r2@school.example")
            assert failure is not None and (failure.kind, failure.code) == (
                FailureKind.TEMPORARY,
                451,
            )
            script.mail, script.data, script.message = "250 OK", "354 go", "552 Too big"
            failure = await smtp.send(message(3), "r3@school.example")
            assert failure is not None and (failure.kind, failure.code) == (
                FailureKind.PERMANENT,
                552,
            )
            script.message = "250 OK"
            assert await smtp.send(message(4), "r4@school.example") is None
        await mailer.close()
    assert b"<4@test>" in b"".join(script.received)


async def test_421_and_a_silent_server_close_the_connection_as_temporary_failures() -> None:
    script = Script()
    async with server(script) as url:
        mailer = SmtpMailer(url, timeout_s=0.5)
        async with mailer.session() as smtp:
            assert await smtp.send(message(1), "r1@school.example") is None
            script.message = "421 4.3.2 Shutting down"
            failure = await smtp.send(message(2), "r2@school.example")
            assert failure is not None and (failure.kind, failure.code) == (
                FailureKind.TEMPORARY,
                421,
            )
            script.message = "250 OK"
            assert await smtp.send(message(3), "r3@school.example") is None  # a new one
            script.silent_after_envelope = True
            failure = await smtp.send(message(5), "r5@school.example")
            assert failure is not None and failure.kind is FailureKind.TEMPORARY
            assert "timeout" in failure.detail
        await mailer.close()
    assert script.connections == 2  # a new one after the 421
    assert mailer._idle == []  # the silent connection was not pooled


async def test_a_recipient_cannot_smuggle_a_command_either_way() -> None:
    sent = {}
    for pipelining in (True, False):
        script = Script(pipelining=pipelining)
        async with server(script) as url:
            mailer = SmtpMailer(url, timeout_s=5)
            async with mailer.session() as smtp:
                assert await smtp.send(message(1), "r1@school.example>\r\nRSET") is None
            await mailer.close()
        sent[pipelining] = exchanges(script.received[0])
        assert b"RSET" not in script.received[0]
    assert sent[True] == sent[False]

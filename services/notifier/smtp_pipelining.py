"""One mail transaction pipelined (RFC 2920) on an open aiosmtplib connection (issue 18).

aiosmtplib sends MAIL, RCPT, DATA and the message each on its own and waits for each
reply: four socket writes and four wake-ups of the event loop a message, the largest
part of the notifier's SMTP cost. With a server that advertises PIPELINING, MAIL, RCPT
and DATA go in one write and their three replies are read together; the message goes
once the server said 354, as RFC 2920 requires (DATA ends a group): two writes, two
wake-ups. The bytes on the wire are the ones aiosmtplib writes (the same quoting,
``size=`` option, line ends and dot-stuffing), and the outcome is the one its
``sendmail`` gives: the same exceptions for a refused sender, a refused recipient, a
refused DATA or message, a timeout (the connection closed) or a lost connection, and
the envelope reset after a refusal.

aiosmtplib's protocol reads one reply per command written (replies that arrive together
would wait for more data), so for the exchange a small protocol of its own stands in on
the connection's transport (``set_protocol``) and hands it back after: the connection,
its TLS and its login stay aiosmtplib's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from typing import cast

import aiosmtplib
from aiosmtplib.email import quote_address
from aiosmtplib.protocol import (
    COMMAND_INJECTION_REGEX,
    MAX_LINE_LENGTH,
    MAX_RESPONSE_LENGTH,
    PERIOD_REGEX,
    normalize_message_line_endings,
)
from aiosmtplib.response import SMTPResponse

_START_INPUT = 354
_COMPLETED = 250
_WILL_FORWARD = 251
_RCPT_OK = (_COMPLETED, _WILL_FORWARD)
_UNAVAILABLE = 421
_INVALID = -1


def can_pipeline(client: aiosmtplib.SMTP) -> bool:
    """Whether ``client``'s server said PIPELINING in its EHLO reply (none yet: no)."""
    return not client.is_ehlo_or_helo_needed and client.supports_extension("pipelining")


@functools.lru_cache(maxsize=4096)  # the same sender and few thousand recipients
def _mailbox(address: str) -> bytes:
    """``<address>`` as aiosmtplib writes it on MAIL and RCPT (ValueError if it could
    smuggle anything onto the command line)."""
    quoted = quote_address(address).encode("ascii")
    if COMMAND_INJECTION_REGEX.search(quoted):
        raise ValueError("Command arg contains a prohibited control character")
    return quoted


def _line_ends_normalized(message: bytes) -> bytes:
    """``normalize_message_line_endings(message)``: a message whose every CR and LF are
    already pairs, ending in one (rendering.compose writes them so), is returned as it
    is, without the regular expression's substitution at every line end."""
    pairs = message.count(b"\r\n")
    if (
        message.count(b"\n") == pairs
        and message.count(b"\r") == pairs
        and message.endswith(b"\r\n")
    ):
        return message
    return normalize_message_line_endings(message)


async def send_pipelined(
    client: aiosmtplib.SMTP, sender: str, recipient: str, message: bytes
) -> None:
    """Send ``message`` from ``sender`` to ``recipient`` on ``client`` (whose server
    pipelines: :func:`can_pipeline`); raises what ``client.sendmail`` would."""
    body = _line_ends_normalized(message)
    mail = b"MAIL FROM:" + _mailbox(sender)
    if client.supports_extension("size"):
        mail += b" size=%d" % len(body)
    envelope = mail + b"\r\nRCPT TO:" + _mailbox(recipient) + b"\r\nDATA\r\n"
    try:
        async with _Exchange(client) as exchange:
            mail_reply, rcpt_reply, data_reply = await exchange.send(envelope, 3)
            accepted = mail_reply.code == _COMPLETED and rcpt_reply.code in _RCPT_OK
            if data_reply.code == _START_INPUT:
                # The message; or, from a server that took DATA after a refusal, none.
                content = PERIOD_REGEX.sub(b"..", body) + b".\r\n" if accepted else b".\r\n"
                (reply,) = await exchange.send(content, 1)
        if mail_reply.code != _COMPLETED:
            raise aiosmtplib.SMTPSenderRefused(mail_reply.code, mail_reply.message, sender)
        if rcpt_reply.code not in _RCPT_OK:
            refused = aiosmtplib.SMTPRecipientRefused(
                rcpt_reply.code, rcpt_reply.message, recipient
            )
            raise aiosmtplib.SMTPRecipientsRefused([refused])
        if data_reply.code != _START_INPUT:
            raise aiosmtplib.SMTPDataError(data_reply.code, data_reply.message)
        if reply.code != _COMPLETED:
            raise aiosmtplib.SMTPDataError(reply.code, reply.message)
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        # As sendmail: the envelope reset for the connection's next message.
        with contextlib.suppress(ConnectionError, aiosmtplib.SMTPResponseException):
            await client.rset()
        raise


class _Exchange:
    """:class:`_Replies` on ``client``'s transport for the exchange; aiosmtplib's own
    protocol back after it. A timeout, a lost connection, a malformed reply or 421
    closes the connection (as aiosmtplib does: a reply given up on would be paired with
    the next command)."""

    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self._client = client
        self._timeout = client.timeout
        transport = client.transport
        if client.protocol is None or transport is None or transport.is_closing():
            raise aiosmtplib.SMTPServerDisconnected("Server not connected")
        self._transport = cast(asyncio.Transport, transport)
        self._replies = _Replies(client.protocol)

    async def __aenter__(self) -> _Exchange:
        self._transport.set_protocol(self._replies)
        return self

    async def __aexit__(self, kind: object, error: object, _tb: object) -> None:
        if self._transport.is_closing():
            return
        self._transport.set_protocol(self._replies.owner)
        if error is not None:  # a reply given up on, or one that made no sense
            self._client.close()

    async def send(self, data: bytes, replies: int) -> list[SMTPResponse]:
        if self._transport.is_closing():
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        self._transport.write(data)
        got = await self._replies.take(replies, self._timeout)
        if any(reply.code == _UNAVAILABLE for reply in got):
            self._client.close()
        return got


class _Replies(asyncio.Protocol):
    """Every complete reply that arrives, in order; the connection's end and flow
    control passed on to aiosmtplib's protocol (``owner``), which stays in charge of
    the connection."""

    def __init__(self, owner: asyncio.BaseProtocol) -> None:
        self.owner = owner
        self._buffer = bytearray()
        self._replies: deque[SMTPResponse] = deque()
        self._wanted = 0
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None

    async def take(self, count: int, within_s: float | None) -> list[SMTPResponse]:
        """The next ``count`` replies, waiting at most ``within_s`` for them."""
        if len(self._replies) < count and self._error is None:
            self._wanted = count
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            # A timer that fails the waiter, not ``asyncio.timeout`` (its context manager
            # and the task's cancel bookkeeping cost more than the wait, twice a message).
            expiry = None if within_s is None else loop.call_later(within_s, _expire, waiter)
            try:
                await waiter
            except TimeoutError as exc:
                raise aiosmtplib.SMTPReadTimeoutError(
                    "Timed out waiting for server response"
                ) from exc
            finally:
                self._waiter = None
                if expiry is not None:
                    expiry.cancel()
        if len(self._replies) < count:
            assert self._error is not None
            raise self._error
        return [self._replies.popleft() for _ in range(count)]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            while (reply := _reply(self._buffer)) is not None:
                self._replies.append(reply)
        except aiosmtplib.SMTPResponseException as exc:
            self._fail(exc)
            return
        if len(self._buffer) > MAX_RESPONSE_LENGTH:
            self._fail(aiosmtplib.SMTPResponseException(_INVALID, "Response too long"))
        elif len(self._replies) >= self._wanted:
            self._wake()

    def eof_received(self) -> bool:
        self._fail(aiosmtplib.SMTPServerDisconnected("Unexpected EOF received"))
        return False  # the transport closes, and tells the owner

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(aiosmtplib.SMTPServerDisconnected("Connection lost"))
        self.owner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.owner.pause_writing()

    def resume_writing(self) -> None:
        self.owner.resume_writing()

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _reply(buffer: bytearray) -> SMTPResponse | None:
    """The first complete reply in ``buffer``, taken out of it (None: not all there
    yet), read as aiosmtplib reads one: a code, lines joined by newlines."""
    code = _INVALID
    lines: list[bytes] = []
    offset = 0
    while (end := buffer.find(b"\n", offset)) != -1:
        line = bytes(buffer[offset : end + 1])
        if len(line) > MAX_LINE_LENGTH:
            raise aiosmtplib.SMTPResponseException(_INVALID, "Response too long")
        try:
            code = int(line[:3])
        except ValueError:
            text = line.decode("utf-8", errors="ignore")
            raise aiosmtplib.SMTPResponseException(
                _INVALID, f"Malformed SMTP response line: {text}"
            ) from None
        offset = end + 1
        lines.append(line[4:].strip(b" \t\r\n"))
        if line[3:4] != b"-":
            del buffer[:offset]
            return SMTPResponse(code, b"\n".join(lines).decode("utf-8", "surrogateescape"))
    return None

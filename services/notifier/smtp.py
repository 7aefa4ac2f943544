"""Sending over SMTP with aiosmtplib: ``smtp://user:pass@host:port`` (``?starttls=true``
to upgrade), ``smtps://`` for implicit TLS. Failures come back classified, never raised,
so the scheduler can record every attempt."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from services.notifier.delivery import FailureKind, SendFailure, classify_smtp_code

log = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}


class SmtpUrlError(ValueError):
    pass


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    start_tls: bool = False

    def __repr__(self) -> str:  # never show the password in logs
        return f"SmtpTarget({self.host}:{self.port}, tls={self.use_tls}, starttls={self.start_tls})"


def parse_smtp_url(url: str) -> SmtpTarget:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise SmtpUrlError(f"RELAY_SMTP_URL: scheme must be smtp or smtps, not {parts.scheme!r}")
    if not parts.hostname:
        raise SmtpUrlError("RELAY_SMTP_URL: no host")
    query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
    implicit = parts.scheme == "smtps"
    try:
        port = parts.port or (465 if implicit else 25)
    except ValueError as exc:
        raise SmtpUrlError(f"RELAY_SMTP_URL: bad port: {exc}") from exc
    return SmtpTarget(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=implicit,
        start_tls=not implicit and query.get("starttls", "") in _TRUE,
    )


class MailSession(Protocol):
    async def send(self, message: EmailMessage, recipient: str) -> SendFailure | None:
        """Send one message; None when the server accepted it."""


class Mailer(Protocol):
    def session(self) -> AbstractAsyncContextManager[MailSession]:
        """A connection reused for a batch of messages."""


class SmtpMailer:
    """The real mailer. One connection per batch; a failed connection is dropped and the
    next message opens a fresh one."""

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        self.target = parse_smtp_url(url)
        self.timeout_s = timeout_s

    def session(self) -> AbstractAsyncContextManager[MailSession]:
        return _session(self)


@asynccontextmanager
async def _session(mailer: SmtpMailer) -> AsyncIterator[_SmtpSession]:
    session = _SmtpSession(mailer)
    try:
        yield session
    finally:
        await session.close()


class _SmtpSession:
    def __init__(self, mailer: SmtpMailer) -> None:
        self._mailer = mailer
        self._client: aiosmtplib.SMTP | None = None

    async def _connect(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        t = self._mailer.target
        client = aiosmtplib.SMTP(
            hostname=t.host,
            port=t.port,
            username=t.username,
            password=t.password,
            use_tls=t.use_tls,
            start_tls=t.start_tls if t.start_tls else False,
            timeout=self._mailer.timeout_s,
        )
        await client.connect()
        self._client = client
        return client

    async def send(self, message: EmailMessage, recipient: str) -> SendFailure | None:
        try:
            client = await self._connect()
            errors, _reply = await client.send_message(message, recipients=[recipient])
        except Exception as exc:
            await self.close()
            return classify_exception(exc)
        # send_message raises when every recipient is refused; with one recipient a
        # non-empty ``errors`` cannot happen, but do not trust it silently.
        if errors:
            code, text = next(iter(errors.values()))
            return SendFailure(classify_smtp_code(code), f"recipient refused: {code} {text}", code)
        return None

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if client.is_connected:
                await client.quit()
        except Exception:
            client.close()


def classify_exception(exc: BaseException) -> SendFailure:
    """Map aiosmtplib's errors onto temporary / permanent (DESIGN §7)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        first = exc.recipients[0]
        return SendFailure(
            classify_smtp_code(first.code),
            f"recipient refused: {first.code} {_line(first.message)}",
            first.code,
        )
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        # Our credentials, not the recipient's fault: keep retrying while an operator
        # fixes RELAY_SMTP_URL; the retry window still ends it.
        return SendFailure(
            FailureKind.TEMPORARY, f"SMTP authentication failed: {exc.code}", exc.code
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return SendFailure(
            classify_smtp_code(exc.code), f"{exc.code} {_line(exc.message)}", exc.code
        )
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return SendFailure(FailureKind.TEMPORARY, f"timeout: {type(exc).__name__}")
    if isinstance(exc, aiosmtplib.SMTPException | OSError | ConnectionError):
        return SendFailure(FailureKind.TEMPORARY, f"{type(exc).__name__}: {_line(str(exc))}")
    # Something unexpected: retrying is safe (the Message-ID is stable), dropping is not.
    log.warning("unexpected error while sending: %s", type(exc).__name__)
    return SendFailure(FailureKind.TEMPORARY, f"{type(exc).__name__}: {_line(str(exc))}")


def _line(text: str) -> str:
    return " ".join(str(text).split())[:300]

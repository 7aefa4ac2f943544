"""Sending over SMTP with aiosmtplib: ``smtp://user:pass@host:port`` (``?starttls=true``
to upgrade), ``smtps://`` for implicit TLS, certificates verified unless told otherwise,
connections pooled between batches. Failures come back classified, never raised, so the
scheduler can record every attempt."""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from services.notifier.delivery import FailureKind, SendFailure, classify_smtp_code
from services.notifier.rendering import OutgoingEmail
from services.notifier.smtp_pipelining import can_pipeline, send_pipelined

log = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_QUERY_KEYS = ("starttls", "cafile", "verify", "pool")
# Connections kept open, one alert in flight on each (issue 18: 4 rather than 2 lets a
# burst's outcomes share transactions and keeps the notifier busy while each connection
# waits for the server's reply and its outcome's commit). A crash can repeat at most one
# email per connection, with the same Message-ID.
DEFAULT_POOL = 4


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
    cafile: str | None = None
    verify: bool = True
    pool: int = DEFAULT_POOL

    def __repr__(self) -> str:  # never show the password in logs
        return (
            f"SmtpTarget({self.host}:{self.port}, tls={self.use_tls}, "
            f"starttls={self.start_tls}, verify={self.verify}, pool={self.pool})"
        )

    def tls_context(self) -> ssl.SSLContext | None:
        if not (self.use_tls or self.start_tls):
            return None
        context = ssl.create_default_context(cafile=self.cafile)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def _flag(query: dict[str, str], key: str, default: bool) -> bool:
    value = query.get(key)
    if value is None:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SmtpUrlError(f"RELAY_SMTP_URL: {key}={value!r}: use true or false")


def parse_smtp_url(url: str) -> SmtpTarget:
    """``smtp://[user:pass@]host[:port]`` (``?starttls=true`` to upgrade), ``smtps://``
    for implicit TLS; ``?cafile=PATH`` trusts a private CA, ``?verify=false`` turns
    certificate checks off (never in production), ``?pool=N`` keeps N connections."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise SmtpUrlError(f"RELAY_SMTP_URL: scheme must be smtp or smtps, not {parts.scheme!r}")
    if not parts.hostname:
        raise SmtpUrlError("RELAY_SMTP_URL: no host")
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = sorted(set(query) - set(_QUERY_KEYS))
    if unknown:
        raise SmtpUrlError(
            f"RELAY_SMTP_URL: unknown option {', '.join(unknown)}; known: {', '.join(_QUERY_KEYS)}"
        )
    lowered = {k: v.lower() for k, v in query.items() if k != "cafile"}
    implicit = parts.scheme == "smtps"
    try:
        port = parts.port or (465 if implicit else 25)
    except ValueError as exc:
        raise SmtpUrlError(f"RELAY_SMTP_URL: bad port: {exc}") from exc
    pool_text = lowered.get("pool", str(DEFAULT_POOL))
    if not pool_text.isdigit() or not 1 <= int(pool_text) <= 50:
        raise SmtpUrlError(f"RELAY_SMTP_URL: pool={pool_text!r}: a whole number from 1 to 50")
    cafile = query.get("cafile") or None
    if cafile is not None and not Path(cafile).is_file():
        raise SmtpUrlError(f"RELAY_SMTP_URL: cafile {cafile!r} is not a file")
    target = SmtpTarget(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=implicit,
        start_tls=not implicit and _flag(lowered, "starttls", False),
        cafile=cafile,
        verify=_flag(lowered, "verify", True),
        pool=int(pool_text),
    )
    if not target.verify:
        log.warning("SMTP: certificate verification is OFF (RELAY_SMTP_URL verify=false)")
    return target


class MailSession(Protocol):
    async def send(self, message: OutgoingEmail, recipient: str) -> SendFailure | None:
        """Send one message; None when the server accepted it."""


class Mailer(Protocol):
    @property
    def connections(self) -> int:
        """How many sessions may be open at once (the scheduler's senders)."""

    def session(self) -> AbstractAsyncContextManager[MailSession]:
        """A connection for a batch of messages."""

    async def close(self) -> None:
        """Close any connection kept open between batches."""


class SmtpMailer:
    """The real mailer, with a small pool of open connections reused from batch to
    batch (``?pool=N``, 2 by default). A connection idle too long is closed rather than
    reused; one that fails is dropped and the next message opens a fresh one."""

    def __init__(self, url: str, timeout_s: float = 30.0, idle_s: float = 60.0) -> None:
        self.target = parse_smtp_url(url)
        self.timeout_s = timeout_s
        self.idle_s = idle_s
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self.connections_opened = 0

    @property
    def connections(self) -> int:
        return self.target.pool

    def session(self) -> AbstractAsyncContextManager[MailSession]:
        return _session(self)

    def _take(self) -> aiosmtplib.SMTP | None:
        now = time.monotonic()
        while self._idle:
            client, since = self._idle.pop()
            if client.is_connected and now - since < self.idle_s:
                return client
            _drop(client)
        return None

    def _give_back(self, client: aiosmtplib.SMTP) -> None:
        if client.is_connected and len(self._idle) < self.target.pool:
            self._idle.append((client, time.monotonic()))
        else:
            _drop(client)

    async def _connect(self) -> aiosmtplib.SMTP:
        t = self.target
        client = aiosmtplib.SMTP(
            hostname=t.host,
            port=t.port,
            username=t.username,
            password=t.password,
            use_tls=t.use_tls,
            start_tls=t.start_tls if t.start_tls else False,
            validate_certs=t.verify,
            tls_context=t.tls_context(),
            timeout=self.timeout_s,
        )
        await client.connect()
        self.connections_opened += 1
        return client

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client, _since in idle:
            await _quit(client)


def _drop(client: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(Exception):
        client.close()


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        if client.is_connected:
            await client.quit()
    except Exception:
        _drop(client)


@asynccontextmanager
async def _session(mailer: SmtpMailer) -> AsyncIterator[_SmtpSession]:
    session = _SmtpSession(mailer)
    try:
        yield session
    finally:
        session.release()


class _SmtpSession:
    def __init__(self, mailer: SmtpMailer) -> None:
        self._mailer = mailer
        self._client: aiosmtplib.SMTP | None = None
        self._pooled = False

    async def _client_for_send(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._client.is_connected:
            return self._client
        pooled = self._mailer._take()
        self._pooled = pooled is not None
        self._client = pooled or await self._mailer._connect()
        return self._client

    async def send(self, message: OutgoingEmail, recipient: str) -> SendFailure | None:
        try:
            client = await self._client_for_send()
            try:
                errors = await _transmit(client, message, recipient)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                if not self._pooled:
                    raise
                # The server closed a pooled connection while it sat idle: not a failure
                # of this message. Once more on a fresh connection.
                self.drop()
                self._pooled = False
                self._client = client = await self._mailer._connect()
                errors = await _transmit(client, message, recipient)
        except Exception as exc:
            self.drop()
            return classify_exception(exc)
        self._pooled = False  # proven alive now
        # send_message raises when every recipient is refused; with one recipient a
        # non-empty ``errors`` cannot happen, but do not trust it silently.
        if errors:
            code, text = next(iter(errors.values()))
            return SendFailure(classify_smtp_code(code), f"recipient refused: {code} {text}", code)
        return None

    def drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            _drop(client)

    def release(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            self._mailer._give_back(client)


async def _transmit(
    client: aiosmtplib.SMTP, message: OutgoingEmail, recipient: str
) -> dict[str, aiosmtplib.SMTPResponse]:
    """One mail transaction; the recipients refused (none: one recipient). Pipelined
    when the server offers it (smtp_pipelining.py), else aiosmtplib's own exchange (for
    a server that does not offer it)."""
    if client.is_ehlo_or_helo_needed:
        # A fresh connection: EHLO now, to know whether it pipelines (a server that
        # refuses EHLO gets HELO from ``sendmail``, as before).
        with contextlib.suppress(aiosmtplib.SMTPHeloError):
            await client.ehlo()
    if can_pipeline(client):
        await send_pipelined(client, message.envelope_from, recipient, message.raw)
        return {}
    errors, _reply = await client.sendmail(message.envelope_from, [recipient], message.raw)
    return errors


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

"""A mailer that keeps what it is given, beside the SMTP one (smtp.py), as httpx ships a
mock transport beside its real one: for handler and scheduler tests without a mail
server, and for trying the notifier out. It sends nothing anywhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field

from services.notifier.delivery import SendFailure
from services.notifier.rendering import OutgoingEmail


@dataclass(frozen=True)
class Delivered:
    """One message the mailer accepted: the envelope and the bytes as they would go."""

    envelope_from: str
    recipient: str
    raw: bytes


@dataclass
class InMemoryMailer:
    """:class:`~services.notifier.smtp.Mailer` in memory. ``refusals`` maps a recipient
    address to the failure every message to it gets (what the SMTP mailer would report:
    a 5xx reply, a connection that dropped); everything else is accepted and kept in
    ``delivered``, in the order sent."""

    connections: int = 1
    refusals: dict[str, SendFailure] = field(default_factory=dict)
    delivered: list[Delivered] = field(default_factory=list)
    refused: list[tuple[str, SendFailure]] = field(default_factory=list)
    closed: bool = False

    def session(self) -> AbstractAsyncContextManager[_MemorySession]:
        return self._session()

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[_MemorySession]:
        yield _MemorySession(self)

    async def close(self) -> None:
        self.closed = True

    def to(self, recipient: str) -> list[Delivered]:
        """What was delivered to ``recipient``."""
        return [d for d in self.delivered if d.recipient == recipient]


@dataclass
class _MemorySession:
    mailer: InMemoryMailer

    async def send(self, message: OutgoingEmail, recipient: str) -> SendFailure | None:
        failure = self.mailer.refusals.get(recipient)
        if failure is not None:
            self.mailer.refused.append((recipient, failure))
            return failure
        self.mailer.delivered.append(Delivered(message.envelope_from, recipient, message.raw))
        return None

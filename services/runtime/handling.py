"""What a consumer's handler gets and may do (DESIGN §2): a handler
``(session, message, out) -> None`` runs in the transaction that records the message in
the inbox, publishes through ``out`` (rows of the same transaction, sent by the outbox
relay after the commit), and raises :class:`UnprocessableError` for a message no retry
can help (it is dead-lettered)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.base import derived_id
from schemas.catalogue import Topic
from services.runtime.messaging import MessagingTables, publish_at_commit, publish_later
from services.runtime.settings import RelaySettings


class UnprocessableError(Exception):
    """This message can never be processed as it is: dead-letter it, do not retry."""


class Publisher(Protocol):
    """Where a handler's messages go: :class:`Outbox` in the consumer, an in-memory one
    in the handlers' unit tests (tests/unit/fake_outbox.py)."""

    async def publish(self, topic: Topic, key: str | None, message: BaseModel) -> None: ...


@dataclass
class Outbox:
    """What a handler may publish; written in the handler's own transaction."""

    session: AsyncSession
    tables: MessagingTables
    settings: RelaySettings
    # Rows written just before the commit, all of a transaction's in one statement
    # (messaging.publish_at_commit): for a handler that never reads its own outbox.
    at_commit: bool = False

    async def publish(self, topic: Topic, key: str | None, message: BaseModel) -> None:
        wire = self.settings.topic(topic.wire)
        if self.at_commit:
            publish_at_commit(self.session, self.tables, wire, key, message)
        else:
            await publish_later(self.session, self.tables, wire, key, message)

    def on(self, session: AsyncSession) -> Outbox:
        """This outbox writing through ``session`` (the same transaction seen another
        way: services/runtime/hand_over.py)."""
        return replace(self, session=session)


def at_commit(out: Publisher) -> Publisher:
    """``out`` writing its rows at the commit when it is an :class:`Outbox` (a test's
    in-memory publisher is left as it is)."""
    return replace(out, at_commit=True) if isinstance(out, Outbox) else out


Handler = Callable[[AsyncSession, Any, Outbox], Awaitable[None]]


@dataclass(frozen=True)
class RawMessage:
    """The undecoded body, for a handler that validates it itself (``raw=True``); its
    message id is the body's digest, so a redelivery of the same bytes is skipped."""

    body: bytes

    @property
    def message_id(self) -> str:
        return derived_id("raw", hashlib.sha256(self.body).hexdigest())

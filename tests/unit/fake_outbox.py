"""An outbox for handler tests: keeps what a handler publishes, in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import BaseModel

from schemas.catalogue import Topic

M = TypeVar("M", bound=BaseModel)


@dataclass
class FakeOutbox:
    sent: list[tuple[Topic, str | None, BaseModel]] = field(default_factory=list)

    async def publish(self, topic: Topic, key: str | None, message: BaseModel) -> None:
        self.sent.append((topic, key, message))

    def on(self, topic: Topic, kind: type[M]) -> list[M]:
        """The messages published on ``topic``, each a ``kind``."""
        sent = [m for t, _, m in self.sent if t is topic]
        assert all(isinstance(m, kind) for m in sent)
        return [m for m in sent if isinstance(m, kind)]

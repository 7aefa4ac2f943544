from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict

# Every deterministic id in the system is a UUIDv5 in this namespace, so the same facts
# always give the same id, whichever process computes it.
RELAY_NAMESPACE = uuid.UUID("6f1c5d0e-8a57-4f0b-9d5c-2b8f3f6b7a10")


def derived_id(*parts: str) -> str:
    """A stable id for a tuple of facts, e.g. ``derived_id(event_id, org_code, kind)``."""
    return str(uuid.uuid5(RELAY_NAMESPACE, "\x1f".join(parts)))


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Message(Frozen):
    """A message on a topic. ``message_id`` is what consumers' inboxes de-duplicate on."""

    message_id: str

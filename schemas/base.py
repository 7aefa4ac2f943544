from __future__ import annotations

import hashlib
import uuid

from pydantic import BaseModel, ConfigDict

# Every deterministic id in the system is a UUIDv5 in this namespace, so the same facts
# always give the same id, whichever process computes it.
RELAY_NAMESPACE = uuid.UUID("6f1c5d0e-8a57-4f0b-9d5c-2b8f3f6b7a10")
_NAMESPACE_BYTES = RELAY_NAMESPACE.bytes


def derived_id(*parts: str) -> str:
    """A stable id for a tuple of facts, e.g. ``derived_id(event_id, org_code, kind)``:
    ``str(uuid.uuid5(RELAY_NAMESPACE, "\\x1f".join(parts)))``, formed from the SHA-1
    digest directly (RFC 4122 §4.3), without a ``UUID`` object: a quarter of the CPU, and
    the router derives several ids an alert (issue 18)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + "\x1f".join(parts).encode()).digest())
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    h = digest[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Message(Frozen):
    """A message on a topic. ``message_id`` is what consumers' inboxes de-duplicate on."""

    message_id: str

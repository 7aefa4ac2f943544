"""Deterministic ids (DESIGN §2): :func:`derived_id` is the UUIDv5 of its facts."""

from __future__ import annotations

import random
import uuid

import pytest

from schemas.base import RELAY_NAMESPACE, derived_id


@pytest.mark.parametrize(
    "parts",
    [
        (),
        ("",),
        ("episode-event", "10", "EV-1"),
        ("6f1c5d0e-8a57-4f0b-9d5c-2b8f3f6b7a10", "URN100001", "reported"),
        ("Zoë", "Ó Súilleabháin", "名前", "\x1f"),
    ],
)
def test_a_derived_id_is_the_uuid5_of_its_parts(parts: tuple[str, ...]) -> None:
    assert derived_id(*parts) == str(uuid.uuid5(RELAY_NAMESPACE, "\x1f".join(parts)))


def test_derived_ids_of_random_facts_are_their_uuid5s() -> None:
    rng = random.Random(18)
    for _ in range(2_000):
        parts = tuple(
            "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(0, 40)))
            for _ in range(rng.randrange(1, 4))
        )
        assert derived_id(*parts) == str(uuid.uuid5(RELAY_NAMESPACE, "\x1f".join(parts)))

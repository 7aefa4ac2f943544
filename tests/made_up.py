"""Made-up names for test rolls: each once, none a real name's spelling."""

from __future__ import annotations

from collections.abc import Iterator


def names() -> Iterator[str]:
    """Made-up names, each once (a roll's rare names): Babob, Babod, ... 4,913 of them."""
    letters = "bcdfghjklmnprstvz"
    for a in letters:
        for b in letters:
            for c in letters:
                yield f"{a.upper()}a{b}o{c}"

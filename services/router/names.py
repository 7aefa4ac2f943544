"""Name normalisation shared by the roll import and matching (pure)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Apostrophes vanish (O'Brien = OBrien); hyphens, dots, commas and underscores become a
# space (Smith-Jones = Smith Jones). Applied the same way on both sides of every match.
_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc`]")
_SEPARATORS = re.compile(r"[-\u2010-\u2015.,_/]+")


@lru_cache(maxsize=65_536)  # names repeat a lot across a roll; imports run to millions
def normalise_name(value: str) -> str:
    """Casefold, strip accents, drop apostrophes, hyphens to spaces, collapse spaces."""
    text = value.casefold()
    if not text.isascii():
        text = "".join(
            c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
        )
    text = _APOSTROPHES.sub("", text)
    text = _SEPARATORS.sub(" ", text)
    return " ".join(text.split())

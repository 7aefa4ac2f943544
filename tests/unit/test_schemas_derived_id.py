"""``derived_id`` gives the text ``uuid.uuid5`` gives, for any facts: every message id
and alert id in stored rows and on the wire is one, so a copy running older code must
derive the same ids."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.base import RELAY_NAMESPACE, derived_id


def _uuid5(*parts: str) -> str:
    return str(uuid.uuid5(RELAY_NAMESPACE, "\x1f".join(parts)))


@pytest.mark.parametrize(
    "parts",
    [
        ("",),
        ("alert-status", "0b9f5c1e-2f6a-5d3b-9a7e-1c2d3e4f5a6b", "sent", "1"),
        ("rhi-task-status", "task", "open", ""),
        ("é", "\u2028", "😀", " spaced "),
    ],
)
def test_known_facts_give_uuid5s_text(parts: tuple[str, ...]) -> None:
    assert derived_id(*parts) == _uuid5(*parts)


@given(st.lists(st.text(st.characters(blacklist_categories=["Cs"])), min_size=1, max_size=5))
def test_any_facts_give_uuid5s_text(parts: list[str]) -> None:
    assert derived_id(*parts) == _uuid5(*parts)


def test_a_fact_that_is_not_utf_8_fails_as_uuid5_does() -> None:
    with pytest.raises(UnicodeEncodeError):
        _uuid5("\ud800")
    with pytest.raises(UnicodeEncodeError):
        derived_id("\ud800")

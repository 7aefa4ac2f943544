"""docs/topics.md (the topics section of the repository's design notes) lists every topic
of the catalogue with its key, schema, producers and consumers, as schemas/catalogue.py
has them, so the page cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.catalogue import TOPICS, Topic

DOC = Path(__file__).resolve().parents[2] / "docs" / "topics.md"


def row(topic: Topic) -> str:
    """The topic's line of the table in docs/topics.md."""
    return (
        f"| `{topic.wire}` | `{topic.key}` | `{topic.model.__name__}` "
        f"([schema](../schemas/json/{topic.wire}.json), "
        f"[example](../schemas/examples/{topic.wire}.json)) | "
        f"{', '.join(topic.producers)} | {', '.join(topic.consumers)} |"
    )


@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.wire)
def test_every_topic_is_in_the_table_as_the_catalogue_has_it(topic: Topic) -> None:
    lines = DOC.read_text(encoding="utf-8").splitlines()
    assert row(topic) in lines, f"docs/topics.md: the row of {topic.wire} should read\n{row(topic)}"


def test_the_table_lists_no_topic_the_catalogue_lacks() -> None:
    wires = {t.wire for t in TOPICS}
    listed = {
        line.split("`")[1]
        for line in DOC.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `")
    }
    assert listed == wires

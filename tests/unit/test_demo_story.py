"""The story `relay up --demo` tells (relay/demo_story.py): placed in the present, valid
police events but the one meant to be refused, and nothing that is overdue on arrival."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from relay.demo_data import PLACING_LA_CODE, generate
from relay.demo_story import Story, tell
from schemas.episode import EpisodeEventSubmissionV1

NOW = datetime(2026, 12, 4, 14, 37, tzinfo=UTC)


@pytest.fixture(scope="module")
def story() -> Story:
    return tell(generate(3000, now=NOW), NOW)


def times(story: Story, type_: str) -> list[datetime]:
    return [datetime.fromisoformat(e["occurred_at"]) for e in story.events if e["type"] == type_]


def test_every_event_is_valid_but_the_one_meant_as_a_reject(story: Story) -> None:
    refused = []
    for event in story.events:
        try:
            EpisodeEventSubmissionV1.model_validate(event)
        except ValidationError:
            refused.append(event["episode_ref"])
    assert refused == [story.cast["a mistyped NHS number (a reject)"]]
    assert len({e["event_id"] for e in story.events}) == len(story.events)
    assert story.events == sorted(story.events, key=lambda e: (e["occurred_at"], e["event_id"]))


def test_placed_in_the_present_with_a_week_behind_it(story: Story) -> None:
    reported = times(story, "reported")
    assert min(reported) < NOW - timedelta(days=6)
    assert sum(NOW - timedelta(hours=1) < t <= NOW for t in reported) >= 6  # minutes ago
    later = [e for e in story.events if datetime.fromisoformat(e["occurred_at"]) > NOW]
    assert {e["type"] for e in later} == {"found", "reported"}  # while you watch
    assert all(
        datetime.fromisoformat(e["occurred_at"]) < NOW + timedelta(minutes=20) for e in later
    )


def test_no_interview_is_due_or_reminded_when_the_story_starts(story: Story) -> None:
    # An interview is due 72 h after the return, reminded at 48 h.
    assert all(NOW - timedelta(hours=48) < t < NOW for t in times(story, "returned"))
    assert len(times(story, "returned")) >= 8
    for interview in story.interviews:
        ref = interview.episode_ref
        back = max(
            datetime.fromisoformat(e["occurred_at"])
            for e in story.events
            if e["episode_ref"] == ref and e["type"] == "returned"
        )
        assert back < interview.interviewed_at < NOW


def test_the_parts_the_console_pages_show(story: Story) -> None:
    by_ref: defaultdict[str, list[dict]] = defaultdict(list)  # type: ignore[type-arg]
    for event in story.events:
        by_ref[event["episode_ref"]].append(event)
    child = {ref: events[0]["child"] for ref, events in by_ref.items()}
    # third time this quarter: one child, three episodes, the last still open
    repeat = [story.cast[f"repeat missing ({n})"] for n in (1, 2)]
    repeat.append(story.cast["repeat missing (3), missing now"])
    assert len({(child[r]["given_name"], child[r]["date_of_birth"]) for r in repeat}) == 1
    assert [e["type"] for e in by_ref[repeat[2]]] == ["reported"]
    # found together: each names the other
    one, two = story.cast["found together (1)"], story.cast["found together (2)"]
    found_with = {
        ref: next(e["found_with"] for e in by_ref[ref] if e["type"] == "found")
        for ref in (one, two)
    }
    assert found_with[one][0]["given_name"] == child[two]["given_name"]
    assert found_with[two][0]["given_name"] == child[one]["given_name"]
    # placed by Newcastle: Newcastle's interview
    placed = child[story.cast["placed here by Newcastle"]]
    assert placed["looked_after"] and placed["responsible_la"] == PLACING_LA_CODE
    # a twin known by an initial: an identity review
    assert len(child[story.cast["a twin known by an initial (identity review)"]]["given_name"]) == 1
    answers = Counter(r.answer for r in story.replies)
    assert answers == Counter({None: 1, "information": 1, "here-now": 1})
    assert all(r.recipient_email.endswith(".example.org") for r in story.replies)


def test_kept_and_read_back(story: Story, tmp_path: Path) -> None:
    story.save(tmp_path / "story.json")
    assert Story.load(tmp_path / "story.json") == story

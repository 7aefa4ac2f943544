"""Links between children, the watchlist's order and the meeting pack's CSV
(services/console/child_network.py, repeat_missing.py, pack_contents.py; pure), from
plain rows without a database. Every name here is made up."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.console.child_network import layout, network
from services.console.episode_view import EpisodeView
from services.console.pack_contents import CSV_COLUMNS, pack_csv, pack_of
from services.console.repeat_missing import RepeatRule, watched

T0 = datetime(2026, 11, 2, 21, 15, tzinfo=UTC)


def event(
    child_id: str,
    episode_key: str,
    given: str,
    at: datetime,
    place: str | None = None,
    found_with: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "child_id": child_id,
        "episode_key": episode_key,
        "given_name": given,
        "family_name": "Testchild",
        "date_of_birth": date(2012, 1, 1),
        "occurred_at": at,
        "location_postcode": place,
        "location_description": None,
        "found_with": json.dumps(found_with or []),
    }


def test_found_together_is_one_occasion_however_many_records_say_so() -> None:
    amy = {"given_name": "Amy", "family_name": "Testchild", "date_of_birth": "2012-01-01"}
    bea = {"given_name": "Bea", "family_name": "Testchild", "date_of_birth": "2012-01-01"}
    events = [
        event("c-amy", "P:1", "Amy", T0, "NE1 4ST", [bea]),
        event("c-bea", "P:2", "Bea", T0 + timedelta(minutes=20), "NE1 4ST", [amy]),
    ]
    nodes, links = network(events)
    assert [(link.a, link.b, link.together, link.same_place) for link in links] == [
        ("c-amy", "c-bea", 1, 0)
    ]
    assert links[0].episodes == {"P:1", "P:2"}
    assert {n.key for n in nodes.values() if n.known} == {"c-amy", "c-bea"}


def test_the_same_place_within_a_week_links_children_and_a_stranger_is_a_person() -> None:
    stranger = {"given_name": "Cal", "family_name": "Unknown"}
    events = [
        event("c-amy", "P:1", "Amy", T0, "NE1 4ST", [stranger]),
        event("c-bea", "P:2", "Bea", T0 + timedelta(days=3), "NE1 4ST"),
        event("c-dan", "P:3", "Dan", T0 + timedelta(days=30), "NE1 4ST"),
    ]
    nodes, links = network(events)
    by_pair = {(link.a, link.b): link for link in links}
    assert by_pair[("c-amy", "c-bea")].same_place == 1
    assert not any("c-dan" in pair for pair in by_pair)  # a month later: not linked
    person = next(n for n in nodes.values() if not n.known)
    assert person.key.startswith("person:") and person.name == "Cal Unknown"
    drawing = layout(nodes, links)
    assert len(drawing["edges"]) == len(links)


def episode_row(child_id: str, at: datetime, **changes: Any) -> dict[str, Any]:
    return {
        "child_id": child_id,
        "initials": "AT",
        "birth_year": 2012,
        "responsible_la": "E06000057",
        "latest_event_at": at,
        "first_event_at": at,
        "risk_factors": "",
        "risk_grade": "medium",
        "latest_event_type": "returned",
        **changes,
    }


def test_the_watchlist_puts_exploitation_first_then_high_risk() -> None:
    rows = [
        episode_row("c-high", T0, risk_grade="high"),
        episode_row("c-cse", T0 - timedelta(days=2), risk_factors="cse"),
        episode_row("c-plain", T0 + timedelta(days=1)),
    ]
    assert [w.child_id for w in watched(rows)] == ["c-cse", "c-high", "c-plain"]


def test_the_pack_csv_has_a_row_per_child_at_least_and_no_formula() -> None:
    rows = [episode_row("c-one", T0), episode_row("c-two", T0)]
    children = watched(rows)
    view = EpisodeView(
        {
            **rows[0],
            "given_name": "=Amy",
            "family_name": "Testchild",
            "date_of_birth": date(2012, 1, 1),
            "force_code": "P",
            "episode_ref": "1",
            "episode_key": "P:1",
        }
    )
    pack = pack_of(
        date(2026, 11, 1),
        date(2026, 11, 30),
        RepeatRule(),
        children,
        [view],
        ({}, []),
        {},
        {},
    )
    table = list(csv.reader(io.StringIO(pack_csv(pack))))
    assert tuple(table[0]) == CSV_COLUMNS
    assert len(table) == 3  # the header, one episode of one child, the other child's row
    by_child = {row[0]: row for row in table[1:]}
    assert "'=Amy Testchild" in by_child  # a spreadsheet does not run it
    assert by_child["'=Amy Testchild"][4] == "P/1"
    assert by_child[""][4] == ""

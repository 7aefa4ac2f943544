"""Links between children, no I/O: children found together, or found at the same place
within a week of each other, with, for each link, how often, where, and the episodes
behind it; and their drawing on a circle. A person named in ``found_with`` is the known
child of the same name and date of birth (or, without a date, of the same name when
only one child has it); otherwise they appear as a person the console does not know."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.console.days import LONDON
from services.console.projections import folded_name

SAME_PLACE_WITHIN = timedelta(days=7)
DRAWN = 40  # the strongest links drawn; more would be a hairball nobody can read
LISTED = 300  # the strongest links listed


@dataclass
class Node:
    key: str
    name: str
    known: bool  # a child with episodes here, or only named as a companion


@dataclass
class Link:
    a: str
    b: str
    # When (to the hour) and where they were found together: each child's record may
    # say so, and that is one occasion.
    occasions: set[tuple[datetime, str]] = field(default_factory=set)
    same_place: int = 0  # times found at the same place, not together
    places: set[str] = field(default_factory=set)
    episodes: set[str] = field(default_factory=set)  # episode keys behind the link

    @property
    def together(self) -> int:
        return len(self.occasions)


def _place(event: Mapping[str, Any]) -> str | None:
    return event.get("location_postcode") or event.get("location_description") or None


def _where(event: Mapping[str, Any]) -> str:
    parts = (event.get("location_description"), event.get("location_postcode"))
    return ", ".join(p for p in parts if p) or "place not given"


def network(events: Iterable[Mapping[Any, Any]]) -> tuple[dict[str, Node], list[Link]]:
    """Nodes and links from episode events (rows of
    :func:`services.console.child_store.standing_events_between`: each with its child's
    ``child_id``)."""
    events = [e for e in events if e.get("child_id")]
    nodes: dict[str, Node] = {}
    by_name: defaultdict[str, set[str]] = defaultdict(set)
    born: dict[tuple[str, str], str] = {}
    for e in events:
        nodes[e["child_id"]] = Node(e["child_id"], f"{e['given_name']} {e['family_name']}", True)
        name = folded_name(e["given_name"], e["family_name"])
        by_name[name].add(e["child_id"])
        if e.get("date_of_birth"):
            born[(name, e["date_of_birth"].isoformat())] = e["child_id"]
    links: dict[tuple[str, str], Link] = {}

    def link(x: str, y: str) -> Link:
        a, b = sorted((x, y))
        return links.setdefault((a, b), Link(a, b))

    for e in events:
        for person in json.loads(e.get("found_with") or "[]"):
            other = _companion(person, by_name, born, nodes)
            if other == e["child_id"]:
                continue
            found = link(e["child_id"], other)
            hour = e["occurred_at"].astimezone(LONDON).replace(minute=0, second=0, microsecond=0)
            found.occasions.add((hour, _where(e)))
            found.episodes.add(e["episode_key"])
            found.places.add(_where(e))
    at_place: defaultdict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for e in events:
        if _place(e):
            at_place[str(_place(e))].append(e)
    for here in at_place.values():
        here.sort(key=lambda e: e["occurred_at"])
        for i, x in enumerate(here):
            # Found at the same place within a week of each other: a place they share,
            # not a bus station every child passes through in a year.
            for y in here[i + 1 :]:
                if y["occurred_at"] - x["occurred_at"] > SAME_PLACE_WITHIN:
                    break
                if x["child_id"] == y["child_id"] or x["episode_key"] == y["episode_key"]:
                    continue
                shared = link(x["child_id"], y["child_id"])
                if {x["episode_key"], y["episode_key"]} <= shared.episodes:
                    continue  # already counted (together, or this pair of episodes)
                shared.same_place += 1
                shared.places.add(_where(x))
                shared.episodes |= {x["episode_key"], y["episode_key"]}
    return nodes, sorted(links.values(), key=lambda k: (-k.together, -k.same_place, k.a, k.b))


def _companion(
    person: Mapping[str, Any],
    by_name: Mapping[str, set[str]],
    born: Mapping[tuple[str, str], str],
    nodes: dict[str, Node],
) -> str:
    """The child of the period the police named as a companion: of that name and date of
    birth, or of that name alone when only one child has it; else a person the console
    does not know. A lookup of a name, not a judgement of identity (the router's)."""
    name = f"{person['given_name']} {person['family_name']}"
    folded = folded_name(person["given_name"], person["family_name"])
    if person.get("date_of_birth") and (folded, person["date_of_birth"]) in born:
        return born[(folded, person["date_of_birth"])]
    candidates = by_name.get(folded, set())
    if len(candidates) == 1:
        return next(iter(candidates))
    key = "person:" + folded_name(person["given_name"], person["family_name"])
    nodes.setdefault(key, Node(key, name, False))
    return key


def layout(nodes: dict[str, Node], links: list[Link], size: int = 560) -> dict[str, Any]:
    """Linked nodes on a circle (readable up to a few dozen), thicker lines for more
    episodes together: the :data:`DRAWN` strongest links."""
    links = links[:DRAWN]
    shown = sorted({k for link in links for k in (link.a, link.b)}, key=lambda k: nodes[k].name)
    centre, radius = size / 2, size / 2 - 90
    at = {
        key: (
            centre + radius * math.cos(2 * math.pi * n / max(len(shown), 1) - math.pi / 2),
            centre + radius * math.sin(2 * math.pi * n / max(len(shown), 1) - math.pi / 2),
        )
        for n, key in enumerate(shown)
    }
    return {
        "size": size,
        "nodes": [(nodes[k], at[k][0], at[k][1]) for k in shown],
        "edges": [
            (at[link.a], at[link.b], 1 + 2 * min(link.together + link.same_place, 5), link)
            for link in links
        ],
    }

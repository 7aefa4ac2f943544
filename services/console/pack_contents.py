"""The MSET meeting pack's contents, no I/O: for each child on the repeat-missing
watchlist, their episodes in the range, the links to other children and the panel's
last decision and open actions; and the same as CSV, a row per episode (a child's row
at least), safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.console.child_network import Link, Node
from services.console.episode_view import EpisodeLine, EpisodeView, duration, episode_line
from services.console.panel import Action, ChildReview
from services.console.repeat_missing import RepeatRule, Watched

CSV_COLUMNS = (
    "child",
    "date_of_birth",
    "authority",
    "episodes_in_window",
    "episode",
    "reported",
    "missing_for",
    "risk_grade",
    "risk_factors",
    "found",
    "rhi",
    "linked_with",
    "panel_decision",
    "panel_risk_view",
    "open_actions",
)


@dataclass(frozen=True)
class PackChild:
    watched: Watched
    name: str
    date_of_birth: date | None
    lines: list[EpisodeLine]  # episodes in the range, newest first
    links: list[tuple[str, Link]]  # the other child's name, and the link
    # The panel's last decision about the child and its open actions (issue 20).
    last_review: ChildReview | None = None
    open_actions: list[Action] = field(default_factory=list)


@dataclass(frozen=True)
class Pack:
    since: date
    until: date
    rule: RepeatRule
    children: list[PackChild]


def pack_of(
    since: date,
    until: date,
    rule: RepeatRule,
    watched: list[Watched],
    views: list[EpisodeView],
    network: tuple[dict[str, Node], list[Link]],
    reviews: Mapping[str, ChildReview],
    actions: Mapping[str, list[Action]],
) -> Pack:
    """The pack from the watchlist, its children's episodes in the range (newest first),
    the links of the range, and the panel's last reviews and open actions."""
    nodes, links = network
    views_of: dict[str, list[EpisodeView]] = {}
    for view in views:
        views_of.setdefault(view.episode["child_id"], []).append(view)
    children = []
    for w in watched:
        mine = views_of.get(w.child_id, [])
        first = mine[0].episode if mine else None
        children.append(
            PackChild(
                watched=w,
                name=f"{first['given_name']} {first['family_name']}" if first else "",
                date_of_birth=first["date_of_birth"] if first else None,
                lines=[episode_line(v) for v in mine],
                links=_links_of(w.child_id, nodes, links),
                last_review=reviews.get(w.child_id),
                open_actions=actions.get(w.child_id, []),
            )
        )
    return Pack(since, until, rule, children)


def _links_of(key: str, nodes: dict[str, Node], links: list[Link]) -> list[tuple[str, Link]]:
    return [
        (nodes[link.b if link.a == key else link.a].name, link)
        for link in links
        if key in (link.a, link.b)
    ]


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run: a leading =, +, - or @ is quoted away."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def pack_csv(pack: Pack) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for c in pack.children:
        linked = "; ".join(
            f"{name} ({link.together} together, {link.same_place} same place)"
            for name, link in c.links
        )
        lines: list[EpisodeLine | None] = [*c.lines] or [None]  # a child's row, at least
        for line in lines:
            e = line.view.episode if line else None
            writer.writerow(
                [
                    _cell(v)
                    for v in (
                        c.name,
                        c.date_of_birth.isoformat() if c.date_of_birth else "",
                        c.watched.responsible_la,
                        c.watched.episodes,
                        f"{e['force_code']}/{e['episode_ref']}" if e else "",
                        e["first_event_at"].isoformat() if e and e["first_event_at"] else "",
                        ("still missing" if line.still_missing else duration(line.missing_for))
                        if line
                        else "",
                        e["risk_grade"] if e else "",
                        ",".join(line.factors) if line else "",
                        "; ".join(
                            f"{f['place']}" + (f" with {', '.join(f['with'])}" if f["with"] else "")
                            for f in line.found
                        )
                        if line
                        else "",
                        "; ".join(t["state"] or "open" for t in line.view.rhi_tasks)
                        if line
                        else "",
                        linked,
                        c.last_review.decision if c.last_review else "",
                        c.last_review.risk_view if c.last_review else "",
                        "; ".join(
                            f"{a.text} ({a.owner_code}, due {a.due_on.isoformat()})"
                            for a in c.open_actions
                        ),
                    )
                ]
            )
    return out.getvalue()

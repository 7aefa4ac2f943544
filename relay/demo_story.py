"""The story ``relay up --demo`` tells (issue 23): a police feed placed in the present,
over the children of the synthetic area (relay/demo_data/), and what a few recipients
and an RHI worker do about it. Pure: the area and a time in, a :class:`Story` out.

What the console shows within minutes, and why each part is there:

- a week behind it: children reported up to a week ago, still missing for days, found
  far from home (county lines), returned; two still missing now;
- children found and returned yesterday, with their interviews due tomorrow, and two
  interviews already done (so the compliance chart has something to count);
- a child placed in the area by Newcastle, whose interview is Newcastle's to do;
- a child missing for the third time this quarter (the watchlist, the MSET panel told),
  whose earlier interviews are still open and note the new episode;
- two children found together (the links between children);
- children reported minutes ago, whose school acknowledges, whose GP has information
  for the police, whose youth justice worker has the child with them now;
- a twin known to the police by an initial only (an identity review waits);
- a visiting child on no roll (only the authority is told) and an event with a
  mistyped NHS number (a reject);
- and the clock runs on: a child is found, and two more are reported, minutes later.

Every return in the story is less than two days old. An interview is due 72 hours after
the return, and its reminder at 48: an older return would be overdue the moment it was
played, and the relay would rightly chase it at once. So nothing is overdue when the
story starts; deadlines then pass in real time, as they would.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from relay.demo_data import DemoArea
from relay.demo_teller import (
    Step,
    Teller,
    closed,
    found,
    reported,
    returned,
    still_missing,
    stranger,
)


@dataclass(frozen=True)
class Reply:
    """A recipient opening their alert's link and pressing a button: a plain
    acknowledgement (``answer`` None) or an answer (``here-now``, ``not-known``,
    ``information`` with its text)."""

    at: datetime
    episode_ref: str
    recipient_email: str
    recipient: str  # who, for the demo's own output
    answer: str | None = None
    information: str | None = None


@dataclass(frozen=True)
class Interview:
    """An RHI worker recording a return home interview done (``relay tasks complete``)."""

    at: datetime
    episode_ref: str
    interviewed_at: datetime
    interviewer: str


@dataclass
class Story:
    now: datetime
    events: list[dict[str, Any]]
    replies: list[Reply] = field(default_factory=list)
    interviews: list[Interview] = field(default_factory=list)
    cast: dict[str, str] = field(default_factory=dict)  # part -> episode reference

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(_jsonable(asdict(self)), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Story:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            now=datetime.fromisoformat(data["now"]),
            events=data["events"],
            replies=[Reply(**_times(r, "at")) for r in data["replies"]],
            interviews=[Interview(**_times(i, "at", "interviewed_at")) for i in data["interviews"]],
            cast=data["cast"],
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _times(row: dict[str, Any], *names: str) -> dict[str, Any]:
    return {**row, **{n: datetime.fromisoformat(row[n]) for n in names}}


def tell(area: DemoArea, now: datetime, seed: int = 23) -> Story:
    """The story over ``area``, placed so that ``now`` is its present."""
    t = Teller(area, now, seed)
    # The chapters in this order: each casts its children from the one seeded generator.
    _a_week_behind(t)
    _found_together(t)
    _returned_yesterday(t)
    _missing_for_the_third_time(t)
    replies = _reported_minutes_ago(t)
    _hard_to_place(t)
    _the_clock_runs_on(t)
    interviews = [
        Interview(t.now, t.cast["interviewed within the 72 hours"], t.ago(hours=22), "Amy Reid"),
        Interview(
            t.now, t.cast["returned yesterday, interviewed today"], t.ago(hours=3), "Amy Reid"
        ),
    ]
    events = sorted(t.events, key=lambda e: (e["occurred_at"], e["event_id"]))
    return Story(t.now, events, replies, interviews, t.cast)


def _a_week_behind(t: Teller) -> None:
    """Children reported up to a week ago: returned, found far from home, still missing."""
    ago = t.ago
    long_gone = t.pick("plain")
    t.episode(
        "missing for days, returned yesterday",
        long_gone,
        [
            reported(ago(days=6, hours=3)),
            still_missing(ago(days=5)),
            still_missing(ago(days=3)),
            found(ago(hours=40), "haymarket"),
            returned(ago(hours=39)),
            closed(ago(hours=30)),
        ],
    )
    county_lines = t.pick("plain", older_than=13)
    t.episode(
        "found far from home",
        county_lines,
        [
            reported(ago(days=5, hours=2)),
            still_missing(ago(days=4)),
            Step(
                "risk-changed",
                ago(days=3, hours=20),
                {"risk": {"grade": "high", "factors": ["cce", "county-lines"]}},
            ),
            found(ago(hours=28), "sunderland"),
            returned(ago(hours=27)),
        ],
        grade="medium",
    )
    interviewed = t.pick("plain")
    t.episode(
        "interviewed within the 72 hours",
        interviewed,
        [
            reported(ago(days=4, hours=5)),
            still_missing(ago(days=3)),
            found(ago(hours=45), "morpeth"),
            returned(ago(hours=44, minutes=30)),
            closed(ago(hours=20)),
        ],
        grade="low",
    )
    missing_for_a_week = t.pick("plain")
    t.episode(
        "still missing after six days",
        missing_for_a_week,
        [reported(ago(days=6, hours=1))] + [still_missing(ago(days=d)) for d in (4, 2)],
    )
    at_risk = t.pick("plain", older_than=12)
    t.episode(
        "still missing, at risk of exploitation",
        at_risk,
        [reported(ago(days=3, hours=4)), still_missing(ago(days=2)), still_missing(ago(days=1))],
        grade="high",
        factors=("cse",),
    )


def _found_together(t: Teller) -> None:
    """Two children found together, returned yesterday."""
    ago = t.ago
    first, second = t.pick("plain", older_than=12), t.pick("plain", older_than=12)
    for part, child, other, start in (
        ("found together (1)", first, second, ago(hours=26)),
        ("found together (2)", second, first, ago(hours=25, minutes=30)),
    ):
        t.episode(
            part,
            child,
            [
                reported(start),
                found(ago(hours=18), "blyth", with_=[other]),
                returned(ago(hours=17)),
            ],
        )


def _returned_yesterday(t: Teller) -> None:
    """Returned yesterday (one interview done this morning); one placed here by Newcastle."""
    ago = t.ago
    yesterday = t.pick("plain")
    t.episode(
        "returned yesterday, interviewed today",
        yesterday,
        [reported(ago(hours=34)), found(ago(hours=31), "ashington"), returned(ago(hours=30))],
        grade="low",
    )
    placed = t.pick("placed")
    t.episode(
        "placed here by Newcastle",
        placed,
        [reported(ago(hours=36)), returned(ago(hours=33))],
    )


def _missing_for_the_third_time(t: Teller) -> None:
    """A child missing for the third time this quarter, missing now."""
    ago = t.ago
    repeat = t.pick("plain", older_than=13)
    t.episode("repeat missing (1)", repeat, [reported(ago(hours=44)), returned(ago(hours=43))])
    t.episode(
        "repeat missing (2)",
        repeat,
        [
            reported(ago(hours=22)),
            found(ago(hours=21), "haymarket"),
            returned(ago(hours=20, minutes=30)),
        ],
    )
    t.episode(
        "repeat missing (3), missing now", repeat, [reported(ago(minutes=25))], factors=("cce",)
    )


def _reported_minutes_ago(t: Teller) -> list[Reply]:
    """Children reported minutes ago, and what their school, GP and youth justice worker
    answer."""
    ago, later = t.ago, t.later
    urgent = t.pick("plain", older_than=12)
    t.episode(
        "high risk, found minutes later",
        urgent,
        [reported(ago(minutes=45)), found(later(minutes=4), "morpeth")],
        grade="high",
        factors=("cse",),
    )
    acknowledged = t.pick("plain")
    acknowledged_ref = t.episode("school acknowledges", acknowledged, [reported(ago(minutes=32))])
    informed = t.pick("plain")
    informed_ref = t.episode(
        "GP has information", informed, [reported(ago(minutes=18))], grade="low"
    )
    with_yot = t.pick("yot")
    with_yot_ref = t.episode(
        "with the youth justice worker now", with_yot, [reported(ago(minutes=12))]
    )
    return [
        Reply(
            t.now,
            acknowledged_ref,
            t.org(acknowledged, "school").email,
            t.org(acknowledged, "school").name,
        ),
        Reply(
            t.now,
            informed_ref,
            t.org(informed, "gp").email,
            t.org(informed, "gp").name,
            "information",
            "The child's mother rang the practice this morning: she thinks the child may "
            "be staying with an older cousin in Blyth.",
        ),
        Reply(
            t.now,
            with_yot_ref,
            t.org(with_yot, "yot").email,
            t.org(with_yot, "yot").name,
            "here-now",
        ),
    ]


def _hard_to_place(t: Teller) -> None:
    """Reported minutes ago too: a twin known by an initial, a visitor on no roll, and a
    mistyped NHS number."""
    ago = t.ago
    twin = t.pick("twin")
    t.episode(
        "a twin known by an initial (identity review)",
        twin,
        [reported(ago(minutes=20))],
        given_name=twin.given_name[0],
    )
    visitor = stranger(t.today)
    t.episode("visiting, on no roll", visitor, [reported(ago(minutes=38))])
    typo = t.pick("plain")
    t.episode(
        "a mistyped NHS number (a reject)",
        typo,
        [reported(ago(minutes=8))],
        nhs_number=typo.nhs_number[:9] + str((int(typo.nhs_number[9]) + 1) % 10),
    )


def _the_clock_runs_on(t: Teller) -> None:
    """A child reported while you watch, and another later."""
    later = t.later
    t.episode("reported while you watch", t.pick("plain"), [reported(later(minutes=8))])
    t.episode(
        "reported while you watch, later",
        t.pick("plain"),
        [reported(later(minutes=15))],
        grade="high",
    )

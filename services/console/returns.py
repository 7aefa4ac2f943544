"""The figures a local authority is asked for every year (issue 21; pure, no I/O):
missing episodes and distinct children, how many episodes each child had, return home
interviews due, offered, offered within 72 hours, completed, completed within 72 hours,
declined and not possible; the same for looked-after children and for those placed
outside the authority; each by month and for the whole period.

An episode counts in the month it began (its first event), an interview in the month of
the child's return; months are local (Europe/London). A child is the console's
``child_id`` (the router's, as the watchlist groups them, issue 20); an episode whose
child is not known yet counts as a child of its own. Withdrawn episodes and their tasks
are left out before the facts get here.

The episodes arrive counted per child and month (services/console/returns_queries.py:
the database groups them, quicker than a hundred thousand rows read one by one); the
interviews one by one, since whether each was in time is services/console/
rhi_measures.py's to say, the same rule the compliance chart uses.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from services.console.days import day_after, day_start
from services.console.rhi_measures import COMPLETED, DECLINED, NOT_POSSIBLE, Measures, TaskFacts

# Children by how many episodes they had: "1", "2", … and the open buckets.
BUCKETS: tuple[tuple[str, int, int], ...] = (
    ("1", 1, 1),
    ("2", 2, 2),
    ("3", 3, 3),
    ("4", 4, 4),
    ("5-9", 5, 9),
    ("10+", 10, 1_000_000_000),
)
_NAMES: tuple[str, ...] = tuple(name for name, _, _ in BUCKETS)


class ChildMonth(NamedTuple):
    """One child's episodes that began in one month of the period (``month``: its index
    in :attr:`Months.names`): how many, how many while looked after, and how many while
    placed outside the authority (a looked-after child living in another's area)."""

    month: int
    child: str  # the child's key, or ``episode:<key>`` while not known
    episodes: int
    looked_after: int
    placed_out: int


@dataclass
class RhiTally:
    """Interviews owed for the returns of a period, and what became of them."""

    due: int = 0
    offered: int = 0
    offered_within_72h: int = 0
    completed: int = 0
    completed_within_72h: int = 0
    declined: int = 0
    not_possible: int = 0

    def add(self, m: Measures, times: int = 1) -> None:
        """``times`` tasks that count as ``m``."""
        self.due += times
        self.offered += times * m.offered
        self.offered_within_72h += times * m.offered_in_time
        self.completed += times * (m.result == COMPLETED)
        self.completed_within_72h += times * m.completed_in_time
        self.declined += times * (m.result == DECLINED)
        self.not_possible += times * (m.result == NOT_POSSIBLE)


@dataclass
class PeriodFigures:
    """One month (``month`` = ``YYYY-MM``) or the whole period (``month`` None)."""

    month: str | None
    episodes: int = 0
    children: int = 0
    episodes_per_child: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_NAMES, 0))
    looked_after_episodes: int = 0
    looked_after_children: int = 0
    placed_out_episodes: int = 0
    placed_out_children: int = 0
    rhi: RhiTally = field(default_factory=RhiTally)
    rhi_looked_after: RhiTally = field(default_factory=RhiTally)
    rhi_placed_out: RhiTally = field(default_factory=RhiTally)


@dataclass
class ReturnsFigures:
    la: str
    since: date
    until: date
    months: list[PeriodFigures]
    total: PeriodFigures


def months_between(since: date, until: date) -> list[date]:
    """The first day of every month from ``since``'s to ``until``'s."""
    out, day = [], since.replace(day=1)
    while day <= until:
        out.append(day)
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return out


class Months:
    """The months of a period: their names, and where each begins (local midnight, held
    in UTC: comparing times of one zone is many times quicker than across zones). The
    first begins on the period's first day, the last ends after its last day."""

    def __init__(self, since: date, until: date) -> None:
        firsts = months_between(since, until)
        self.names = [f"{d:%Y-%m}" for d in firsts]
        self.starts = [max(day_start(d), day_start(since)).astimezone(UTC) for d in firsts]
        self.end = day_after(until).astimezone(UTC)

    def index(self, moment: datetime) -> int | None:
        if moment < self.starts[0] or moment >= self.end:
            return None
        return bisect.bisect_right(self.starts, moment) - 1


def _bucket(count: int) -> str:
    return next(name for name, low, high in BUCKETS if low <= count <= high)


def figures(
    la: str,
    since: date,
    until: date,
    child_months: Iterable[ChildMonth],
    tasks: Iterable[TaskFacts],
) -> ReturnsFigures:
    """The figures of ``la`` from ``since`` to ``until`` (whole local days)."""
    months = Months(since, until)
    rows = [PeriodFigures(name) for name in months.names]
    total = PeriodFigures(None)
    per_period: Counter[str] = Counter()
    looked_total: set[str] = set()
    placed_total: set[str] = set()
    for c in child_months:
        row = rows[c.month]
        row.episodes += c.episodes
        row.children += 1
        row.episodes_per_child[_bucket(c.episodes)] += 1
        per_period[c.child] += c.episodes
        if c.looked_after:
            row.looked_after_episodes += c.looked_after
            row.looked_after_children += 1
            looked_total.add(c.child)
        if c.placed_out:
            row.placed_out_episodes += c.placed_out
            row.placed_out_children += 1
            placed_total.add(c.child)
    total.episodes = sum(per_period.values())
    total.children = len(per_period)
    for count in per_period.values():
        total.episodes_per_child[_bucket(count)] += 1
    total.looked_after_episodes = sum(r.looked_after_episodes for r in rows)
    total.looked_after_children = len(looked_total)
    total.placed_out_episodes = sum(r.placed_out_episodes for r in rows)
    total.placed_out_children = len(placed_total)
    index = months.index
    # Tasks that count alike are counted together: a few dozen kinds, not one by one.
    kinds: Counter[tuple[int, Measures, bool, bool]] = Counter()
    for t in tasks:
        i = index(t.returned_at)
        if i is not None:
            kinds[(i, t.measures(), t.looked_after, t.placed_out)] += 1
    for (i, m, looked_after, placed_out), times in kinds.items():
        for row in (rows[i], total):
            row.rhi.add(m, times)
            if looked_after:
                row.rhi_looked_after.add(m, times)
            if placed_out:
                row.rhi_placed_out.add(m, times)
    return ReturnsFigures(la, since, until, rows, total)


# --- output ---------------------------------------------------------------------------

_TALLIES = ("rhi", "rhi_looked_after", "rhi_placed_out")
_TALLY_FIELDS = tuple(f.name for f in fields(RhiTally))
_COUNTS = (
    "episodes",
    "children",
    "looked_after_episodes",
    "looked_after_children",
    "placed_out_episodes",
    "placed_out_children",
)


def period_json(p: PeriodFigures) -> dict[str, Any]:
    out: dict[str, Any] = {"month": p.month}
    out.update({name: getattr(p, name) for name in _COUNTS})
    out["episodes_per_child"] = dict(p.episodes_per_child)
    for tally in _TALLIES:
        out[tally] = {name: getattr(getattr(p, tally), name) for name in _TALLY_FIELDS}
    return out


def as_json(f: ReturnsFigures) -> dict[str, Any]:
    return {
        "la": f.la,
        "from": f.since.isoformat(),
        "to": f.until.isoformat(),
        "months": [period_json(p) for p in f.months],
        "total": period_json(f.total),
    }


def csv_header() -> list[str]:
    return [
        "month",
        *_COUNTS,
        *(f"episodes_per_child_{name}" for name in _NAMES),
        *(f"{tally}_{name}" for tally in _TALLIES for name in _TALLY_FIELDS),
    ]


def csv_rows(f: ReturnsFigures) -> list[list[str | int]]:
    """One row a month, then ``total`` for the whole period."""
    out: list[list[str | int]] = []
    for p in [*f.months, f.total]:
        out.append(
            [
                p.month or "total",
                *(getattr(p, name) for name in _COUNTS),
                *(p.episodes_per_child[name] for name in _NAMES),
                *(getattr(getattr(p, t), name) for t in _TALLIES for name in _TALLY_FIELDS),
            ]
        )
    return out

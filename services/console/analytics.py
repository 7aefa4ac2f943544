"""The partnership's figures (issue 20; pure): for a date range and an authority, the
episodes and distinct children by month, the repeat rate, and the episodes by age band,
sex, looked-after, where the child went missing from, hour of day and day of week of the
report, home locality and where found (postcode districts, as hotspot tables), and the
share with exploitation factors. Each figure is a table, a chart (services/console/
charts.py) and a CSV.

An episode counts in the range by when it was reported (its first event), in local time
(Europe/London; worked out once, when the row was written), withdrawn episodes left
out. A child is the router's ``child_id``; an episode whose child is not known yet counts
as a child of its own. The repeat rate is the
share of the range's children with at least the policy's number of episodes (3) within
its window (90 days) somewhere in the range.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from services.console.charts import BarChart, grouped_bars

AGE_BANDS = ("under 10", "10-11", "12-13", "14-15", "16-17")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MISSING_FROM = ("home", "care", "education", "other")
NOT_RECORDED = "not recorded"
HOTSPOTS = 15  # districts in a hotspot chart (the table lists them all)


class EpisodeFacts(NamedTuple):
    """One episode as the figures need it (the console's episode row, its figures'
    columns worked out when it was written: projections.reported_columns). No name, no
    date of birth: the age at report only."""

    child: str  # the router's child_id, else ``episode:<key>`` (the child not known yet)
    month: str  # YYYY-MM, local
    day: int  # days since 1970-01-01, local
    hour: int
    weekday: int  # 0 = Monday
    age: int | None
    sex: str | None
    looked_after: bool | None
    missing_from: str | None
    home_district: str | None
    found_district: str | None
    exploitation: bool | None


@dataclass(frozen=True)
class Figure:
    """One breakdown: rows of (label, counts per column), its chart and its CSV name."""

    name: str  # the CSV's name, e.g. "by-month"
    title: str
    columns: tuple[str, ...]
    rows: Sequence[tuple[str, tuple[int, ...]]]
    chart: BarChart | None = None
    shares: bool = True  # a share of the total column beside the first

    def total(self) -> int:
        return sum(values[0] for _, values in self.rows)

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["label", *self.columns, *(["share"] if self.shares else [])])
        total = self.total()
        for label, values in self.rows:
            share = [f"{values[0] / total:.4f}" if total else ""] if self.shares else []
            writer.writerow([_cell(label), *values, *share])
        return out.getvalue()


def _cell(value: str) -> str:
    """A CSV cell a spreadsheet will not run."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


@dataclass
class Analytics:
    since: date
    until: date
    episodes: int
    children: int
    repeat_children: int
    exploitation_episodes: int
    figures: list[Figure] = field(default_factory=list)

    @property
    def repeat_rate(self) -> float | None:
        return self.repeat_children / self.children if self.children else None

    @property
    def exploitation_share(self) -> float | None:
        return self.exploitation_episodes / self.episodes if self.episodes else None

    def figure(self, name: str) -> Figure | None:
        return next((f for f in self.figures if f.name == name), None)


class FactColumns(NamedTuple):
    """The range's episodes column by column (the page reads them so: one string per
    column from the database, split). Values may be text as the database gave them
    (``"7"``, ``"1"``, ``""`` for none) or Python values; the labels below take both."""

    child: Sequence[str]
    month: Sequence[str]
    day: Sequence[Any]
    hour: Sequence[Any]
    weekday: Sequence[Any]
    age: Sequence[Any]
    sex: Sequence[str | None]
    looked_after: Sequence[Any]
    missing_from: Sequence[str | None]
    home_district: Sequence[str | None]
    found_district: Sequence[str | None]
    exploitation: Sequence[Any]

    @classmethod
    def of(cls, facts: Iterable[EpisodeFacts]) -> FactColumns:
        rows = list(facts)
        return cls(*(zip(*rows, strict=True) if rows else [()] * len(cls._fields)))


_TRUE = frozenset({True, "1", "true", "t"})


def _yes(value: Any) -> bool:
    return value in _TRUE


def age_band(age: Any) -> str:
    if age is None or age == "":
        return NOT_RECORDED
    age = int(age)
    if age < 10:
        return AGE_BANDS[0]
    return AGE_BANDS[min((age - 10) // 2 + 1, len(AGE_BANDS) - 1)]


def months(since: date, until: date) -> list[str]:
    out, year, month = [], since.year, since.month
    while (year, month) <= (until.year, until.month):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def repeat_children(days: Iterable[Sequence[Any]], threshold: int, window_days: int) -> int:
    """Children with ``threshold`` episodes within ``window_days`` days of each other."""
    count = 0
    for reported in days:
        if len(reported) < threshold:
            continue
        ordered = sorted(map(int, reported))
        if any(
            ordered[i + threshold - 1] - ordered[i] <= window_days
            for i in range(len(ordered) - threshold + 1)
        ):
            count += 1
    return count


def _figure(
    name: str,
    title: str,
    counts: Counter[str],
    order: Sequence[str] | None = None,
    chart_limit: int | None = None,
) -> Figure:
    labels = list(order) if order is not None else [k for k, _ in counts.most_common()]
    labels += sorted(k for k in counts if k not in labels)  # e.g. "not recorded"
    rows: list[tuple[str, tuple[int, ...]]] = [(label, (counts.get(label, 0),)) for label in labels]
    shown = rows[:chart_limit] if chart_limit else rows
    chart = grouped_bars(title, [r[0] for r in shown], [("Episodes", [r[1][0] for r in shown])])
    return Figure(name, title, ("episodes",), rows, chart)


def _relabel(
    counts: Counter[Any], label: Callable[[Any], str], keep: Callable[[Any], bool] | None = None
) -> Counter[str]:
    """Counts of raw values as counts of their labels (``keep``: which values count)."""
    out: Counter[str] = Counter()
    for value, n in counts.items():
        if keep is None or keep(value):
            out[label(value)] += n
    return out


def _labelled(values: Iterable[str | None]) -> Counter[str]:
    """Counts by a free-text value (sex, missing from), case and blanks folded."""
    out: Counter[str] = Counter()
    for value, n in Counter(values).items():
        out[(value or "").strip().lower() or NOT_RECORDED] += n
    return out


def _districts(values: Iterable[str | None]) -> Counter[str]:
    """Counts by district, the episodes without one as "not recorded"."""
    out: Counter[str] = Counter()
    for value, n in Counter(values).items():
        out[value or NOT_RECORDED] += n
    return out


def _month_figure(facts: FactColumns, since: date, until: date) -> Figure:
    """Episodes and distinct children by month of report, every month of the range."""
    by_month = Counter(facts.month)
    children_by_month = Counter(m for m, _ in set(zip(facts.month, facts.child, strict=True)))
    month_labels = months(since, until)
    month_rows: list[tuple[str, tuple[int, ...]]] = [
        (m, (by_month.get(m, 0), children_by_month.get(m, 0))) for m in month_labels
    ]
    month_title = "Episodes and distinct children by month of report"
    return Figure(
        "by-month",
        month_title,
        ("episodes", "children"),
        month_rows,
        grouped_bars(
            month_title,
            month_labels,
            [
                ("Episodes", [r[1][0] for r in month_rows]),
                ("Children", [r[1][1] for r in month_rows]),
            ],
        ),
        shares=False,
    )


def _exploitation(facts: FactColumns) -> Counter[str]:
    return _relabel(
        Counter(facts.exploitation),
        lambda v: "with exploitation factors" if _yes(v) else "without",
    )


def _column_figures(facts: FactColumns, exploitation: Counter[str]) -> list[Figure]:
    """The figures that count one column each."""
    return [
        _figure(
            "by-age",
            "Episodes by age at report",
            _relabel(Counter(facts.age), age_band),
            AGE_BANDS,
        ),
        _figure("by-sex", "Episodes by sex", _labelled(facts.sex)),
        _figure(
            "by-looked-after",
            "Episodes by looked-after status",
            _relabel(
                Counter(facts.looked_after),
                lambda v: "looked after" if _yes(v) else "not looked after",
            ),
            ("looked after", "not looked after"),
        ),
        _figure(
            "by-missing-from",
            "Episodes by where missing from",
            _labelled(facts.missing_from),
            MISSING_FROM,
        ),
        _figure(
            "by-hour",
            "Episodes by hour of report",
            _relabel(Counter(facts.hour), lambda h: f"{int(h):02d}"),
            [f"{h:02d}" for h in range(24)],
        ),
        _figure(
            "by-day",
            "Episodes by day of the week of report",
            _relabel(Counter(facts.weekday), lambda w: DAYS[int(w)]),
            DAYS,
        ),
        _figure(
            "by-home-district",
            "Hotspots: home postcode district",
            _districts(facts.home_district),
            chart_limit=HOTSPOTS,
        ),
        _figure(
            "by-found-district",
            "Hotspots: where found (postcode district)",
            _relabel(Counter(facts.found_district), str, keep=bool),
            chart_limit=HOTSPOTS,
        ),
        _figure(
            "exploitation",
            "Episodes with exploitation factors (CSE, CCE, county lines, trafficking)",
            exploitation,
            ("with exploitation factors", "without"),
        ),
    ]


def analyse(
    facts: FactColumns,
    since: date,
    until: date,
    threshold: int = 3,
    window_days: int = 90,
) -> Analytics:
    """Every figure of the range from its episodes' facts, counted column by column: the
    counting runs at C speed and labels the few distinct values afterwards (the time
    zone arithmetic was done when each row was written)."""
    days_of: defaultdict[str, list[Any]] = defaultdict(list)
    for child, d in zip(facts.child, facts.day, strict=True):
        days_of[child].append(d)
    exploitation = _exploitation(facts)
    return Analytics(
        since,
        until,
        len(facts.child),
        len(days_of),
        repeat_children(days_of.values(), threshold, window_days),
        exploitation["with exploitation factors"],
        [_month_figure(facts, since, until), *_column_figures(facts, exploitation)],
    )

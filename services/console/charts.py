"""Bar charts drawn on the server as SVG (no script, no CDN; DESIGN §8): the geometry
only, the template draws it. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    height: float
    series: int  # which series: its colour
    label: str  # the bar's title, read by screen readers and on hover


@dataclass(frozen=True)
class BarChart:
    title: str
    width: int
    height: int
    left: int
    base: float
    bar_width: float
    bars: list[Bar]
    categories: list[tuple[float, str]]  # (x of the label, text)
    series: list[str]
    grid: list[tuple[float, str]]  # (y, value)


def _nice_top(value: int) -> int:
    """A round top for the axis: 1, 2, 5, 10, 20, 50…, at least ``value``."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if top * step >= value:
                return top * step
        top *= 10


def grouped_bars(
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    width: int = 720,
    height: int = 240,
) -> BarChart:
    """One group of bars per category (a month, a bucket), one bar per series."""
    left, bottom, top = 48, 30, 10
    plot = height - bottom - top
    highest = max((v for _, values in series for v in values), default=0)
    axis_top = _nice_top(max(highest, 2))  # at least 0, 1, 2 on the axis
    slot = (width - left) / max(len(categories), 1)
    bar = min(slot * 0.8 / max(len(series), 1), 40.0)
    group = bar * len(series)
    bars: list[Bar] = []
    for c, category in enumerate(categories):
        for s, (name, values) in enumerate(series):
            value = values[c]
            h = plot * value / axis_top
            bars.append(
                Bar(
                    x=left + c * slot + (slot - group) / 2 + s * bar,
                    y=top + plot - h,
                    height=h,
                    series=s,
                    label=f"{name}, {category}: {value:,}",
                )
            )
    return BarChart(
        title=title,
        width=width,
        height=height,
        left=left,
        base=top + plot,
        bar_width=bar,
        bars=bars,
        categories=[(left + c * slot + slot / 2, text) for c, text in enumerate(categories)],
        series=[name for name, _ in series],
        grid=[(top + plot * (1 - f), f"{round(axis_top * f):,}") for f in (0, 0.5, 1)],
    )

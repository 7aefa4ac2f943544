"""A synthetic area for demos and matching tests: organisations, rolls, a police feed,
and the ground truth that says who each police record really is.

Everything is made up: names from common lists (and surnames composed from English
place-name parts, so a national-size roll has as many surnames as a real one), numbers
from the check-digit rules, phone numbers from Ofcom's drama ranges, e-mail under
``.example.org``. The generation is pure (one seeded ``random.Random`` and a fixed
reference date give the same area every time); :func:`write_area` and
:func:`write_bench_area` are the only parts that touch files.

The area: Northumberland (E06000057) with its MSET panel, YOT, schools and GP practices;
every child on one school roll and one GP list, a few on the YOT roll, a few who changed
school, a few looked after and placed here by Newcastle (E08000021), twins (same family
name, birth date and address, both on one school roll), siblings, double-barrelled
surnames. The feed holds the police events of DESIGN §4 for about 5% of the children,
plus events for children on no roll and a few deliberately invalid events.

Police records are typed in a hurry, so about 40% of them carry one error (rarely two):
a nickname, a misspelt family name, given and family names swapped, day and month
swapped, a one-digit typo in the date of birth, no postcode, an old postcode, one part of
a double-barrelled surname, a new family name. ``truth.csv`` names, per event, the child
and the roll record it truly is on each roll on that date, and which errors it carries.
"""

from __future__ import annotations

import random
from datetime import datetime

from relay.demo_data.feed import police_feed
from relay.demo_data.files import BenchArea, record_row, write_area, write_bench_area
from relay.demo_data.model import (
    DFE_LA_NUMBER,
    FORCE_CODE,
    LA_CODE,
    LA_NAME,
    MSET_CODE,
    OFF_ROLL_EVENT_SHARE,
    ORGANISATION_COLUMNS,
    PLACING_LA_CODE,
    REPEAT_SHARE,
    ROLL_COLUMNS,
    TRUTH_COLUMNS,
    TWIN_MISSING_SHARE,
    YOT_CODE,
    Child,
    DemoArea,
    Organisation,
    RollRef,
    RollRow,
    TruthRow,
    reference_now,
)
from relay.demo_data.names import FAMILY_NAMES, GIVEN_NAMES
from relay.demo_data.people import AreaGenerator, Population, area_organisations
from relay.demo_data.police import CORRUPTIONS, choose_corruption, police_child

__all__ = [
    "CORRUPTIONS",
    "DFE_LA_NUMBER",
    "FAMILY_NAMES",
    "FORCE_CODE",
    "GIVEN_NAMES",
    "LA_CODE",
    "LA_NAME",
    "MSET_CODE",
    "OFF_ROLL_EVENT_SHARE",
    "ORGANISATION_COLUMNS",
    "PLACING_LA_CODE",
    "ROLL_COLUMNS",
    "TRUTH_COLUMNS",
    "YOT_CODE",
    "BenchArea",
    "Child",
    "DemoArea",
    "Organisation",
    "RollRef",
    "RollRow",
    "TruthRow",
    "choose_corruption",
    "generate",
    "police_child",
    "record_row",
    "write_area",
    "write_bench_area",
]


def generate(
    children: int,
    seed: int = 0,
    now: datetime | None = None,
    repeat_share: float = REPEAT_SHARE,
    twin_share: float = TWIN_MISSING_SHARE,
) -> DemoArea:
    """A synthetic area of ``children`` children whose police feed ends at ``now`` (default:
    the current minute, Europe/London). The same ``seed`` and ``now`` give the same area.
    ``repeat_share`` and ``twin_share``: see :func:`police_feed`."""
    if children < 1:
        raise ValueError("children: at least 1")
    now = reference_now(now)
    gen = AreaGenerator(random.Random(seed), now)
    fixed, schools, gps = area_organisations(gen, children)
    rolls: dict[str, list[RollRow]] = {"school": [], "gp": [], "yot": []}
    population: list[Child] = []
    for child, rows in Population(gen, schools, gps).children(children):
        population.append(child)
        for kind, row in rows:
            rolls[kind].append(row)
    feed, truth, invalid = police_feed(gen, population, repeat_share, twin_share)
    return DemoArea(
        organisations=fixed + schools + gps,
        children=population,
        school_roll=rolls["school"],
        gp_roll=rolls["gp"],
        yot_roll=rolls["yot"],
        feed=feed,
        truth=truth,
        invalid_event_ids=invalid,
    )

"""A synthetic area for demos and matching tests: organisations, rolls, a police feed.

Everything is made up: names from common lists, numbers from the check-digit rules,
phone numbers from Ofcom's drama ranges, e-mail under ``.example.org``. The generation
is pure (one seeded ``random.Random`` and a fixed reference date give the same area
every time); :func:`write_area` is the only part that touches files.

The area: Northumberland (E06000057) with its MSET panel, YOT, schools and GP practices;
every child on one school roll and one GP list, a few on the YOT roll, a few who changed
school, a few looked after and placed here by Newcastle (E08000021). The feed holds the
police events of DESIGN §4 for about 5% of the children, plus events for children on no
roll and a few deliberately invalid events, so a demo shows matches, gaps and rejects.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from schemas.identifiers import nhs_number_check_digit, upn_check_letter

LA_CODE = "E06000057"
LA_NAME = "Northumberland County Council"
PLACING_LA_CODE = "E08000021"  # Newcastle upon Tyne: places some children in the area
DFE_LA_NUMBER = "929"  # Northumberland's three-digit LA number, the start of its UPNs
FORCE_CODE = "10"  # Northumbria Police
MSET_CODE = "MSET-E06000057"
YOT_CODE = "YOT-E06000057"

ORGANISATION_COLUMNS = ("code", "kind", "name", "email", "escalation_email", "phone", "la_code")
ROLL_COLUMNS = (
    "org_code",
    "record_id",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "nhs_number",
    "upn",
    "postcode",
    "address",
    "from",
    "to",
)
TRUTH_COLUMNS = (
    "event_id",
    "child_id",
    "school_urn",
    "gp_code",
    "yot_code",
    "responsible_la",
    "valid",
)

# Shares of the population and of the feed (DOMAIN.md volumes, scaled to a small area).
MISSING_SHARE = 0.05
YOT_SHARE = 0.03
GP_NHS_SHARE = 0.80
POLICE_NHS_SHARE = 0.30
LEAVER_SHARE = 0.02
LOOKED_AFTER_SHARE = 0.015
PLACED_FROM_ELSEWHERE_SHARE = 0.5  # of looked-after children
OFF_ROLL_EVENT_SHARE = 0.02
INVALID_EVENT_SHARE = 0.01
REPEAT_SHARE = 0.15  # of missing children: three episodes in the window
FEED_DAYS = 6

_GIVEN = {
    "female": (
        "Olivia",
        "Amelia",
        "Isla",
        "Ava",
        "Mia",
        "Ivy",
        "Lily",
        "Isabella",
        "Rosie",
        "Sophia",
        "Grace",
        "Freya",
        "Evie",
        "Ella",
        "Poppy",
        "Charlotte",
        "Millie",
        "Emily",
        "Ruby",
        "Sienna",
        "Chloe",
        "Holly",
        "Erin",
        "Megan",
        "Abbie",
        "Keira",
        "Niamh",
        "Leah",
        "Jessica",
        "Hannah",
        "Zara",
        "Aisha",
        "Maja",
        "Zofia",
        "Eilidh",
    ),
    "male": (
        "Oliver",
        "George",
        "Noah",
        "Arthur",
        "Leo",
        "Harry",
        "Oscar",
        "Jack",
        "Charlie",
        "Jacob",
        "Thomas",
        "Alfie",
        "Freddie",
        "Theo",
        "Archie",
        "Joshua",
        "Ethan",
        "Mason",
        "Lewis",
        "Kyle",
        "Connor",
        "Callum",
        "Jayden",
        "Ryan",
        "Dylan",
        "Liam",
        "Owen",
        "Adam",
        "Mohammed",
        "Kacper",
        "Jakub",
        "Rhys",
        "Finley",
        "Reece",
        "Louie",
    ),
}
_FAMILY = (
    "Robson",
    "Charlton",
    "Milburn",
    "Armstrong",
    "Elliott",
    "Bell",
    "Dodds",
    "Hall",
    "Scott",
    "Brown",
    "Smith",
    "Wilson",
    "Thompson",
    "Robinson",
    "Walker",
    "Wright",
    "Taylor",
    "Johnson",
    "Anderson",
    "Carr",
    "Forster",
    "Hedley",
    "Ridley",
    "Short",
    "Hutchinson",
    "Graham",
    "Nixon",
    "Young",
    "Wood",
    "Davison",
    "Jackson",
    "Lamb",
    "Errington",
    "Pattinson",
    "Storey",
    "Moffat",
    "Turnbull",
    "Reed",
    "Heron",
    "Nicholson",
    "Straughan",
    "Common",
    "Weddell",
    "Potts",
    "Mills",
    "Kowalski",
    "Nowak",
    "Khan",
    "Ali",
    "Hussain",
    "Patel",
    "O'Neill",
    "McKenna",
    "Duffy",
    "Stokoe",
    "Tweddle",
    "Thirlwell",
)
# Outward code -> town; inward codes are generated in the valid letter set.
_TOWNS = {
    "NE61": "Morpeth",
    "NE62": "Bedlington",
    "NE63": "Ashington",
    "NE64": "Newbiggin-by-the-Sea",
    "NE65": "Amble",
    "NE66": "Alnwick",
    "NE46": "Hexham",
    "NE24": "Blyth",
    "NE22": "Bedlington",
    "NE23": "Cramlington",
    "NE42": "Prudhoe",
    "NE49": "Haltwhistle",
    "TD15": "Berwick-upon-Tweed",
}
_STREETS = (
    "Bridge Street",
    "Front Street",
    "Station Road",
    "Church Lane",
    "Newgate Street",
    "Woodhorn Road",
    "Castle Terrace",
    "Coquet View",
    "Hadrian Way",
    "Tyne View",
    "Wansbeck Road",
    "Cheviot Close",
    "Bondgate Within",
    "Priory Gardens",
    "Seaton Avenue",
)
_SCHOOL_KINDS = (
    "First School",
    "Primary School",
    "Middle School",
    "High School",
    "Academy",
    "Church of England First School",
    "St Mary's RC Primary School",
)
_GP_KINDS = ("Medical Group", "Health Centre", "Surgery", "Medical Practice")
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_FACTORS = ("cse", "cce", "county-lines", "self-harm", "mental-health", "trafficking")
_FOUND_PLACES = (
    ("NE1 4XF", "Haymarket bus station, Newcastle"),
    ("NE1 5DL", "Central Station, Newcastle"),
    ("NE24 2AP", "Blyth beach front"),
    ("NE63 9YH", "Ashington town centre"),
    ("NE61 1PN", "Carlisle Park, Morpeth"),
    ("NE46 3NH", "Hexham bus station"),
    ("SR1 3PR", "Park Lane interchange, Sunderland"),
)
_OFFICERS = (
    "DC Sarah Hall",
    "PC Mark Dixon",
    "PS Joanne Hewitt",
    "PC Aaron Burns",
    "DC Priya Shah",
    "PC Gemma Lowes",
    "PS David Bowman",
)


@dataclass(frozen=True)
class Organisation:
    code: str
    kind: str
    name: str
    email: str
    escalation_email: str
    phone: str
    la_code: str


@dataclass(frozen=True)
class RollRow:
    org_code: str
    record_id: str
    given_name: str
    family_name: str
    date_of_birth: date
    sex: str = ""
    nhs_number: str = ""
    upn: str = ""
    postcode: str = ""
    address: str = ""
    from_: date | None = None
    to: date | None = None

    def as_csv(self) -> list[str]:
        return [
            self.org_code,
            self.record_id,
            self.given_name,
            self.family_name,
            self.date_of_birth.isoformat(),
            self.sex,
            self.nhs_number,
            self.upn,
            self.postcode,
            self.address,
            self.from_.isoformat() if self.from_ else "",
            self.to.isoformat() if self.to else "",
        ]


@dataclass
class Child:
    """One synthetic child, with the facts the rolls and the police partly know."""

    child_id: str
    given_name: str
    family_name: str
    date_of_birth: date
    sex: str
    nhs_number: str
    postcode: str
    address: str
    upn: str = ""
    school_urn: str = ""
    gp_code: str = ""
    yot: bool = False
    looked_after: bool = False
    responsible_la: str = LA_CODE


@dataclass(frozen=True)
class TruthRow:
    event_id: str
    child_id: str
    school_urn: str
    gp_code: str
    yot_code: str
    responsible_la: str
    valid: bool

    def as_csv(self) -> list[str]:
        return [
            self.event_id,
            self.child_id,
            self.school_urn,
            self.gp_code,
            self.yot_code,
            self.responsible_la,
            "true" if self.valid else "false",
        ]


@dataclass
class DemoArea:
    organisations: list[Organisation]
    children: list[Child]
    school_roll: list[RollRow]
    gp_roll: list[RollRow]
    yot_roll: list[RollRow]
    feed: list[dict[str, Any]]
    truth: list[TruthRow]
    invalid_event_ids: set[str] = field(default_factory=set)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower().replace("'", "")).strip("-")


class _Generator:
    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now
        self.today = now.date()
        self.phones: set[str] = set()
        self.nhs_numbers: set[str] = set()
        self.people: set[tuple[str, str, date]] = set()
        self.upn_serials: dict[tuple[str, int], int] = {}

    # identifiers ------------------------------------------------------------------
    def phone(self) -> str:
        # Ofcom's drama range 01632 960000-960999: never a real line.
        while True:
            number = f"01632 960{self.rng.randrange(1000):03d}"
            if number not in self.phones or len(self.phones) >= 1000:
                self.phones.add(number)
                return number

    def nhs_number(self) -> str:
        while True:
            first_nine = f"{self.rng.randrange(400_000_000, 999_999_999):09d}"
            check = nhs_number_check_digit(first_nine)
            if check is None:  # no valid number starts with these nine digits
                continue
            number = f"{first_nine}{check}"
            if number not in self.nhs_numbers:
                self.nhs_numbers.add(number)
                return number

    def upn(self, establishment: str, year: int) -> str:
        serial = self.upn_serials.get((establishment, year), 0) + 1
        self.upn_serials[(establishment, year)] = serial
        body = f"{DFE_LA_NUMBER}{establishment}{year % 100:02d}{serial:03d}"
        return upn_check_letter(body) + body

    def postcode(self) -> tuple[str, str]:
        outward = self.rng.choice(list(_TOWNS))
        inward = f"{self.rng.randrange(1, 10)}{self.rng.choice(_INWARD_LETTERS)}" + (
            self.rng.choice(_INWARD_LETTERS)
        )
        street = f"{self.rng.randrange(1, 180)} {self.rng.choice(_STREETS)}"
        return f"{outward} {inward}", f"{street}, {_TOWNS[outward]}"

    # organisations ------------------------------------------------------------------
    def organisations(self, schools: int, gps: int) -> tuple[list[Organisation], ...]:
        la_domain = "northumberland.example.org"
        fixed = [
            Organisation(
                LA_CODE,
                "local-authority",
                f"{LA_NAME} - Missing Children Team",
                f"missing.children@{la_domain}",
                f"mash@{la_domain}",
                self.phone(),
                LA_CODE,
            ),
            Organisation(
                PLACING_LA_CODE,
                "local-authority",
                "Newcastle City Council - Children in Care",
                "missing.children@newcastle.example.org",
                "mash@newcastle.example.org",
                self.phone(),
                PLACING_LA_CODE,
            ),
            Organisation(
                MSET_CODE,
                "mset-panel",
                "Northumberland MSET Panel",
                f"mset.panel@{la_domain}",
                f"mset.chair@{la_domain}",
                self.phone(),
                LA_CODE,
            ),
            Organisation(
                YOT_CODE,
                "yot",
                "Northumberland Youth Justice Service",
                f"yjs.duty@{la_domain}",
                f"yjs.manager@{la_domain}",
                self.phone(),
                LA_CODE,
            ),
        ]
        towns = sorted(set(_TOWNS.values()))
        urns = self.rng.sample(range(100_000, 999_999), schools)
        school_orgs = []
        for i, urn in enumerate(urns):
            kind = _SCHOOL_KINDS[(i // len(towns)) % len(_SCHOOL_KINDS)]
            name = f"{towns[i % len(towns)]} {kind}"
            if i >= len(towns) * len(_SCHOOL_KINDS):
                name += f" {i}"
            domain = f"{_slug(name)}.example.org"
            school_orgs.append(
                Organisation(
                    f"{urn:06d}",
                    "school",
                    name,
                    f"dsl@{domain}",
                    f"headteacher@{domain}",
                    self.phone(),
                    LA_CODE,
                )
            )
        codes = self.rng.sample(range(10_000, 99_999), gps)
        gp_orgs = []
        for i, number in enumerate(codes):
            name = f"{towns[(i * 5) % len(towns)]} {_GP_KINDS[i % len(_GP_KINDS)]}"
            if i >= len(towns):
                name += f" {i}"
            domain = f"{_slug(name)}.example.org"
            gp_orgs.append(
                Organisation(
                    f"A{number:05d}",
                    "gp-practice",
                    name,
                    f"safeguarding@{domain}",
                    f"practice.manager@{domain}",
                    self.phone(),
                    LA_CODE,
                )
            )
        return fixed, school_orgs, gp_orgs

    # children -----------------------------------------------------------------------
    def child(self, child_id: str) -> Child:
        sex = self.rng.choice(("female", "male"))
        while True:
            given = self.rng.choice(_GIVEN[sex])
            family = self.rng.choice(_FAMILY)
            # Ages 5 to 17 on the reference date, with room for a week-long feed before it.
            born = self.today - timedelta(days=self.rng.randrange(5 * 366, 17 * 365 + 300))
            if (given, family, born) not in self.people:
                self.people.add((given, family, born))
                break
        postcode, address = self.postcode()
        return Child(child_id, given, family, born, sex, self.nhs_number(), postcode, address)

    def school_start(self, child: Child) -> date:
        # Joined in the September after they turned 4, 9 or 13 (first/middle/high school).
        age_now = (self.today - child.date_of_birth).days // 365
        stage_age = max(a for a in (4, 9, 13) if a <= age_now)
        started = date(child.date_of_birth.year + stage_age, 9, 1)
        return started if started <= self.today else started.replace(year=started.year - 1)


def generate(children: int, seed: int = 0, now: datetime | None = None) -> DemoArea:
    """A synthetic area of ``children`` children whose police feed ends at ``now`` (default:
    the current minute, Europe/London). The same ``seed`` and ``now`` give the same area."""
    if children < 1:
        raise ValueError("children: at least 1")
    if now is None:
        now = datetime.now(_london()).replace(second=0, microsecond=0)
    elif now.tzinfo is None:
        raise ValueError("now: needs a time zone")
    rng = random.Random(seed)
    today = now.date()
    gen = _Generator(rng, now)
    fixed, schools, gps = gen.organisations(
        schools=max(20, -(-children // 400)), gps=max(8, -(-children // 1500))
    )
    establishment = {s.code: f"{2000 + i * 7:04d}" for i, s in enumerate(schools)}
    school_roll: list[RollRow] = []
    gp_roll: list[RollRow] = []
    yot_roll: list[RollRow] = []
    population: list[Child] = []
    record_counter: dict[str, int] = {}

    def record_id(org: str) -> str:
        record_counter[org] = record_counter.get(org, 0) + 1
        return f"{org}-{record_counter[org]:06d}"

    for n in range(1, children + 1):
        child = gen.child(f"C{n:06d}")
        population.append(child)
        school = rng.choice(schools)
        started = gen.school_start(child)
        # A UPN is for life: allocated by the first school, kept when the child moves.
        child.upn = gen.upn(establishment[school.code], started.year)
        if rng.random() < LEAVER_SHARE:
            # Left one school a while ago and is now on another school's roll.
            old = school
            school = rng.choice([s for s in schools if s.code != old.code])
            left = today - timedelta(days=rng.randrange(14, 200))
            started = min(started, left - timedelta(days=365))
            school_roll.append(_school_row(old, record_id(old.code), child, started, left))
            started = left + timedelta(days=1)
        school_roll.append(_school_row(school, record_id(school.code), child, started, None))
        child.school_urn = school.code
        gp = rng.choice(gps)
        child.gp_code = gp.code
        gp_roll.append(
            RollRow(
                gp.code,
                record_id(gp.code),
                child.given_name,
                child.family_name,
                child.date_of_birth,
                child.sex,
                child.nhs_number if rng.random() < GP_NHS_SHARE else "",
                "",
                child.postcode,
                child.address,
                child.date_of_birth + timedelta(days=rng.randrange(0, 60)),
                None,
            )
        )
        if rng.random() < YOT_SHARE and (today - child.date_of_birth).days > 10 * 365:
            child.yot = True
            yot_roll.append(
                RollRow(
                    YOT_CODE,
                    record_id(YOT_CODE),
                    child.given_name,
                    child.family_name,
                    child.date_of_birth,
                    child.sex,
                    child.nhs_number,
                    "",
                    child.postcode,
                    child.address,
                    today - timedelta(days=rng.randrange(20, 400)),
                    None,
                )
            )
        if rng.random() < LOOKED_AFTER_SHARE:
            child.looked_after = True
            if rng.random() < PLACED_FROM_ELSEWHERE_SHARE:
                child.responsible_la = PLACING_LA_CODE

    feed, truth, invalid = _feed(gen, population, schools)
    return DemoArea(
        organisations=fixed + schools + gps,
        children=population,
        school_roll=school_roll,
        gp_roll=gp_roll,
        yot_roll=yot_roll,
        feed=feed,
        truth=truth,
        invalid_event_ids=invalid,
    )


def _school_row(
    school: Organisation, rid: str, child: Child, started: date, left: date | None
) -> RollRow:
    return RollRow(
        school.code,
        rid,
        child.given_name,
        child.family_name,
        child.date_of_birth,
        child.sex,
        "",
        child.upn,
        child.postcode,
        child.address,
        started,
        left,
    )


def _london() -> tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Europe/London")
    except Exception:  # no tz database (e.g. a minimal container): UTC is close enough
        return UTC


class _Episodes:
    """Builds each episode's events in time order, with unique ids and references."""

    def __init__(self, gen: _Generator) -> None:
        self.gen = gen
        self.rng = gen.rng
        self.serial = self.rng.randrange(1000, 5000)
        self.now = gen.now

    def next_ref(self, when: datetime) -> str:
        self.serial += 1
        return f"{FORCE_CODE}-{when.year}-{self.serial:06d}"

    def contact(self) -> dict[str, str]:
        name = self.rng.choice(_OFFICERS)
        local = _slug(name.split(" ", 1)[1]).replace("-", ".")
        return {
            "name": name,
            "phone": f"0191 498 {self.rng.randrange(10000):04d}",  # Ofcom drama range
            "email": f"{local}@northumbria.police.example",
        }

    def child_block(self, child: Child, with_nhs: bool) -> dict[str, Any]:
        block: dict[str, Any] = {
            "given_name": child.given_name,
            "family_name": child.family_name,
            "date_of_birth": child.date_of_birth.isoformat(),
            "sex": child.sex,
            "postcode": child.postcode,
        }
        if self.rng.random() < 0.5:
            block["address"] = child.address
        if with_nhs:
            block["nhs_number"] = child.nhs_number
        if child.looked_after:
            block["looked_after"] = True
            block["responsible_la"] = child.responsible_la
        return block

    def episode(
        self,
        child: Child,
        start: datetime,
        companions: list[Child],
        ends_before: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """One episode's events from ``start``; squeezed to end before ``ends_before`` (a
        child's next episode), cut at ``now`` (what has not happened stays open)."""
        rng = self.rng
        ref = self.next_ref(start)
        block = self.child_block(child, rng.random() < POLICE_NHS_SHARE)
        contact = self.contact()
        grade = rng.choices(("no-apparent-risk", "low", "medium", "high"), (1, 3, 5, 1))[0]
        factors = sorted(rng.sample(_FACTORS, rng.choice((0, 0, 0, 1, 2))))
        common = {
            "force_code": FORCE_CODE,
            "episode_ref": ref,
            "child": block,
            "missing_from": "care"
            if child.looked_after
            else rng.choice(("home", "home", "home", "education", "other")),
            "police_contact": contact,
        }
        steps: list[tuple[str, timedelta, dict[str, Any]]] = [
            ("reported", timedelta(0), {"risk": {"grade": grade, "factors": factors}})
        ]
        at = timedelta(0)
        if rng.random() < 0.3:
            at += timedelta(hours=rng.randrange(6, 30))
            steps.append(("still-missing", at, {}))
        if rng.random() < 0.12:
            at += timedelta(hours=rng.randrange(1, 12))
            high = sorted(set(factors) | set(rng.sample(("cce", "county-lines", "cse"), 2)))
            steps.append(("risk-changed", at, {"risk": {"grade": "high", "factors": high}}))
        if rng.random() < 0.92:  # the rest are still missing at the end of the feed
            at += timedelta(hours=rng.randrange(2, 40), minutes=rng.randrange(60))
            if rng.random() < 0.6:
                place = rng.choice(_FOUND_PLACES)
                found: dict[str, Any] = {
                    "location": {"postcode": place[0], "description": place[1]}
                }
                if companions and rng.random() < 0.4:
                    found["found_with"] = [
                        {
                            "given_name": c.given_name,
                            "family_name": c.family_name,
                            "date_of_birth": c.date_of_birth.isoformat(),
                        }
                        for c in companions
                    ]
                steps.append(("found", at, found))
                at += timedelta(hours=rng.randrange(1, 4))
            steps.append(("returned", at, {}))
            at += timedelta(hours=rng.randrange(2, 48))
            steps.append(("closed", at, {}))
        squeeze = 1.0
        if ends_before is not None and at > timedelta(0) and start + at >= ends_before:
            squeeze = 0.9 * (ends_before - start) / at
        events = []
        for seq, (kind, offset, extra) in enumerate(steps, start=1):
            when = (start + offset * squeeze).replace(microsecond=0)
            if when > self.now:
                break  # the future has not happened yet: the episode stays open
            events.append(
                {
                    "event_id": f"NP-{ref}-{seq:02d}",
                    "type": kind,
                    "occurred_at": when.isoformat(timespec="seconds"),
                    **common,
                    **extra,
                }
            )
        return events

    def start_between(self, first: datetime, last: datetime) -> datetime:
        span = max(int((last - first).total_seconds()), 60)
        start = first + timedelta(seconds=self.rng.randrange(span))
        return start.replace(second=0, microsecond=0)


def _feed(
    gen: _Generator, population: list[Child], schools: list[Organisation]
) -> tuple[list[dict[str, Any]], list[TruthRow], set[str]]:
    rng = gen.rng
    episodes = _Episodes(gen)
    window_start = episodes.now - timedelta(days=FEED_DAYS)
    # Looked-after children go missing far more often (DOMAIN.md): weight them up.
    looked_after = [c for c in population if c.looked_after]
    others = [c for c in population if not c.looked_after]
    wanted = max(1, round(len(population) * MISSING_SHARE))
    chosen = rng.sample(looked_after, min(len(looked_after), max(1, wanted // 5)))
    chosen += rng.sample(others, min(len(others), max(0, wanted - len(chosen))))
    rng.shuffle(chosen)

    feed: list[dict[str, Any]] = []
    truth: list[TruthRow] = []

    def add(events: list[dict[str, Any]], child: Child, on_roll: bool, valid: bool) -> None:
        for event in events:
            feed.append(event)
            truth.append(
                TruthRow(
                    event["event_id"],
                    child.child_id,
                    child.school_urn if on_roll else "",
                    child.gp_code if on_roll else "",
                    YOT_CODE if child.yot else "",
                    child.responsible_la,
                    valid,
                )
            )

    for i, child in enumerate(chosen):
        repeats = 3 if rng.random() < REPEAT_SHARE else 1
        companions = [chosen[i - 1]] if i and rng.random() < 0.3 else []
        slot = (episodes.now - window_start) / repeats
        for r in range(repeats):
            first = window_start + slot * r
            start = episodes.start_between(first, first + slot * 0.6)
            ends_before = first + slot if r < repeats - 1 else None
            add(episodes.episode(child, start, companions, ends_before), child, True, True)

    # Children on no roll: visiting from elsewhere, or missed by every organisation.
    off_roll = max(1, round(len(feed) * OFF_ROLL_EVENT_SHARE / 3))
    for n in range(1, off_roll + 1):
        stranger = gen.child(f"X{n:06d}")
        stranger.school_urn = stranger.gp_code = ""
        start = episodes.start_between(window_start, episodes.now - timedelta(hours=1))
        add(episodes.episode(stranger, start, []), stranger, False, True)

    # Deliberately invalid: the NHS number's check digit is wrong, so ingest rejects it.
    invalid_ids: set[str] = set()
    for _ in range(max(1, round(len(feed) * INVALID_EVENT_SHARE))):
        child = rng.choice(population)
        start = episodes.start_between(window_start, episodes.now - timedelta(hours=1))
        event = episodes.episode(child, start, [])[0]
        good = child.nhs_number
        bad = good[:9] + str((int(good[9]) + rng.randrange(1, 10)) % 10)
        event["child"] = {**event["child"], "nhs_number": bad}
        invalid_ids.add(event["event_id"])
        add([event], child, True, False)

    order = sorted(range(len(feed)), key=lambda k: (feed[k]["occurred_at"], feed[k]["event_id"]))
    return [feed[k] for k in order], [truth[k] for k in order], invalid_ids


def write_area(area: DemoArea, out: Path) -> dict[str, int]:
    """Write the area's files into ``out``; returns the rows written per file."""
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}

    def write_csv(name: str, header: tuple[str, ...], rows: list[list[str]]) -> None:
        with (out / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        counts[name] = len(rows)

    write_csv(
        "organisations.csv",
        ORGANISATION_COLUMNS,
        [
            [o.code, o.kind, o.name, o.email, o.escalation_email, o.phone, o.la_code]
            for o in area.organisations
        ],
    )
    write_csv("roll_schools.csv", ROLL_COLUMNS, [r.as_csv() for r in area.school_roll])
    write_csv("roll_gps.csv", ROLL_COLUMNS, [r.as_csv() for r in area.gp_roll])
    write_csv("roll_yot.csv", ROLL_COLUMNS, [r.as_csv() for r in area.yot_roll])
    write_csv("truth.csv", TRUTH_COLUMNS, [t.as_csv() for t in area.truth])
    with (out / "feed.ndjson").open("w", encoding="utf-8") as handle:
        for event in area.feed:
            handle.write(json.dumps(event, ensure_ascii=False) + "\n")
    counts["feed.ndjson"] = len(area.feed)
    # The area's own authority hears of every episode nobody else claims (DESIGN §6).
    (out / "policy.toml").write_text(
        "# Routing policy of the demo partnership (RELAY_POLICY_FILE).\n"
        f'[routing]\ndefault_la = "{LA_CODE}"\n',
        encoding="utf-8",
    )
    return counts

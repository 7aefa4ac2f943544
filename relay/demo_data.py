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

import csv
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from schemas.identifiers import nhs_number_check_digit, upn_check_letter
from services.router.names import normalise_name
from services.router.nicknames import _GROUPS as _NICKNAME_GROUPS  # the router's own table
from services.router.nicknames import are_variants

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
    # The roll records the child truly is on each roll on the event's date ('' if none),
    # the errors in the police record ('|'-separated, '' when clean), and whether the
    # child is a twin (whose sibling shares family name, birth date and address).
    "school_record_id",
    "gp_record_id",
    "yot_record_id",
    "corruption",
    "twin",
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
TWIN_SHARE = 0.015  # of households: a pair of twins (about 3% of children)
SIBLING_SHARE = 0.08  # of households: two siblings, different birth dates
DOUBLE_BARREL_SHARE = 0.04
REAL_SURNAME_SHARE = 0.35  # the rest composed from place-name parts
TWIN_MISSING_SHARE = 0.04  # of the missing: twins, so every feed has twin cases

# Police-record errors (DOMAIN: records typed in a hurry). CLEAN_SHARE of records carry
# none; of the rest, TWO_ERRORS_SHARE carry two. Weights say how common each error is
# among those that can apply to a record.
CLEAN_SHARE = 0.60
TWO_ERRORS_SHARE = 0.10
CORRUPTION_WEIGHTS: dict[str, float] = {
    "nickname": 4.0,
    "family-typo": 3.0,
    "double-barrel-part": 6.0,  # applies only to double-barrelled names: usually given in part
    "name-change": 0.6,
    "names-swapped": 1.0,
    "dob-swap": 1.2,
    "dob-typo": 1.5,
    "no-postcode": 2.0,
    "old-postcode": 1.5,
}
CORRUPTIONS = tuple(CORRUPTION_WEIGHTS)
# Errors that cannot meet in one record (both touch the same field).
_CONFLICTS = (
    {"dob-swap", "dob-typo"},
    {"family-typo", "name-change", "double-barrel-part"},
    {"no-postcode", "old-postcode", "name-change"},
)

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

# More given names, so a national-size roll is not a few dozen names; the canonical forms
# of the nickname table are here so nicknames are common in the feed, as in life.
_MORE_GIVEN = {
    "female": (
        "Elizabeth",
        "Alexandra",
        "Samantha",
        "Rebecca",
        "Katherine",
        "Eleanor",
        "Abigail",
        "Victoria",
        "Jennifer",
        "Gabriella",
        "Margaret",
        "Emma",
        "Lucy",
        "Phoebe",
        "Matilda",
        "Harriet",
        "Florence",
        "Willow",
        "Aria",
        "Maisie",
        "Scarlett",
        "Layla",
        "Daisy",
        "Imogen",
        "Lola",
        "Esme",
        "Heidi",
        "Thea",
        "Bethany",
        "Courtney",
        "Jade",
        "Paige",
        "Amber",
        "Caitlin",
        "Lauren",
        "Natalie",
        "Kayleigh",
        "Tegan",
        "Nadia",
        "Fatima",
        "Maryam",
        "Hafsa",
        "Oliwia",
        "Julia",
        "Hanna",
        "Roisin",
        "Aoife",
        "Morven",
        "Isobel",
        "Nancy",
        "Beatrice",
        "Violet",
        "Penelope",
        "Clara",
        "Edith",
        "Alice",
        "Martha",
    ),
    "male": (
        "William",
        "Alexander",
        "Samuel",
        "Benjamin",
        "Daniel",
        "Matthew",
        "James",
        "Edward",
        "Henry",
        "Nicholas",
        "Joseph",
        "Michael",
        "Robert",
        "Richard",
        "Christopher",
        "Anthony",
        "Frederick",
        "Zachary",
        "Nathaniel",
        "Patrick",
        "Stephen",
        "Theodore",
        "Jonathan",
        "Harrison",
        "Aaron",
        "Bradley",
        "Cameron",
        "Declan",
        "Elliot",
        "Felix",
        "Gabriel",
        "Hugo",
        "Isaac",
        "Jasper",
        "Kai",
        "Luca",
        "Max",
        "Nathan",
        "Ollie",
        "Reuben",
        "Sebastian",
        "Toby",
        "Tyler",
        "Zain",
        "Ibrahim",
        "Yusuf",
        "Omar",
        "Bilal",
        "Filip",
        "Szymon",
        "Mateusz",
        "Ciaran",
        "Sean",
        "Euan",
        "Fraser",
        "Angus",
        "Brodie",
    ),
}
_SURNAME_HEADS = (
    "Ash",
    "Black",
    "Brad",
    "Bram",
    "Brook",
    "Cald",
    "Cres",
    "Dun",
    "Ed",
    "Fair",
    "Green",
    "Hart",
    "Hol",
    "Kirk",
    "Lang",
    "Mar",
    "Mid",
    "Mil",
    "New",
    "North",
    "Rad",
    "Red",
    "Ros",
    "Shel",
    "South",
    "Stan",
    "Stock",
    "Sut",
    "Thorn",
    "Wake",
    "West",
    "Whit",
    "Wood",
    "Bel",
    "Carl",
    "Dal",
    "Elm",
    "Fen",
    "Gold",
    "Hal",
    "Ing",
    "Lin",
    "Mor",
    "Ock",
    "Pen",
    "Rock",
    "Sand",
    "Tal",
    "Wal",
    "Wither",
    "Cor",
    "Har",
    "Hep",
    "Lumb",
    "Sow",
)
_SURNAME_TAILS = (
    "ley",
    "ton",
    "field",
    "wood",
    "worth",
    "by",
    "ham",
    "well",
    "ford",
    "burn",
    "dale",
    "land",
    "more",
    "hurst",
    "shaw",
    "wick",
    "combe",
    "bridge",
    "stone",
    "thwaite",
    "croft",
    "holme",
    "den",
    "gate",
    "ridge",
    "low",
)
_FAMILY_COMPOSED = tuple(h + t for h in _SURNAME_HEADS for t in _SURNAME_TAILS)
# Name pools for other generators (tests), so there is one list of names.
GIVEN_NAMES = tuple(name for names in _GIVEN.values() for name in names)
FAMILY_NAMES = _FAMILY
_GIVEN_ALL = {sex: names + _MORE_GIVEN[sex] for sex, names in _GIVEN.items()}
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Organisation:
    code: str
    kind: str
    name: str
    email: str
    escalation_email: str
    phone: str
    la_code: str

    def as_csv(self) -> list[str]:
        return [
            self.code,
            self.kind,
            self.name,
            self.email,
            self.escalation_email,
            self.phone,
            self.la_code,
        ]


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


@dataclass(frozen=True)
class RollRef:
    """Where a child is on one roll, and when."""

    kind: str  # school | gp | yot
    org_code: str
    record_id: str
    from_: date | None
    to: date | None

    def on_roll(self, on: date) -> bool:
        return (self.from_ is None or self.from_ <= on) and (self.to is None or on <= self.to)


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
    twin_of: str = ""  # the twin's child id
    sibling_of: str = ""
    refs: list[RollRef] = field(default_factory=list)

    def record_on(self, kind: str, on: date) -> str:
        """The child's record id on its ``kind`` roll on ``on`` ('' if on none)."""
        return next((r.record_id for r in self.refs if r.kind == kind and r.on_roll(on)), "")


@dataclass(frozen=True)
class TruthRow:
    event_id: str
    child_id: str
    school_urn: str
    gp_code: str
    yot_code: str
    responsible_la: str
    valid: bool
    school_record_id: str = ""
    gp_record_id: str = ""
    yot_record_id: str = ""
    corruption: tuple[str, ...] = ()
    twin: bool = False

    def as_csv(self) -> list[str]:
        return [
            self.event_id,
            self.child_id,
            self.school_urn,
            self.gp_code,
            self.yot_code,
            self.responsible_la,
            "true" if self.valid else "false",
            self.school_record_id,
            self.gp_record_id,
            self.yot_record_id,
            "|".join(self.corruption),
            "true" if self.twin else "false",
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


def _local_date(when: datetime) -> date:
    return when.astimezone(_london()).date()


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

    def postcode(self, outward: str | None = None) -> tuple[str, str]:
        outward = outward or self.rng.choice(list(_TOWNS))
        inward = f"{self.rng.randrange(1, 10)}{self.rng.choice(_INWARD_LETTERS)}" + (
            self.rng.choice(_INWARD_LETTERS)
        )
        street = f"{self.rng.randrange(1, 180)} {self.rng.choice(_STREETS)}"
        return f"{outward} {inward}", f"{street}, {_TOWNS[outward]}"

    def family_name(self) -> str:
        rng = self.rng
        pool = _FAMILY if rng.random() < REAL_SURNAME_SHARE else _FAMILY_COMPOSED
        name = rng.choice(pool)
        if rng.random() < DOUBLE_BARREL_SHARE:
            other = rng.choice(_FAMILY_COMPOSED if rng.random() < 0.6 else _FAMILY)
            if normalise_name(other) != normalise_name(name):
                name = f"{name}-{other}"
        return name

    # organisations ------------------------------------------------------------------
    def organisations(
        self, schools: int, gps: int
    ) -> tuple[list[Organisation], list[Organisation], list[Organisation]]:
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
            # The force's missing persons unit: where recipients' answers go when an
            # event names no police contact email (no random draw: the rest of the
            # area stays as it was).
            Organisation(
                FORCE_CODE,
                "police-force",
                "Northumbria Police - Missing Persons Unit",
                "missing.persons@northumbria.police.example",
                "",
                "101",
                "",
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
    def born(self) -> date:
        # Ages 5 to 17 on the reference date, with room for a week-long feed before it.
        return self.today - timedelta(days=self.rng.randrange(5 * 366, 17 * 365 + 300))

    def child(
        self,
        child_id: str,
        family: str | None = None,
        born: date | None = None,
        home: tuple[str, str] | None = None,
        not_like: str = "",
    ) -> Child:
        """A new child; ``family``/``born``/``home`` fixed for twins and siblings, whose
        given name is never a form of ``not_like`` (the other child's)."""
        sex = self.rng.choice(("female", "male"))
        for attempt in range(1000):
            given = self.rng.choice(_GIVEN_ALL[sex])
            if not_like and are_variants(normalise_name(given), normalise_name(not_like)):
                continue
            fam = family if family is not None else self.family_name()
            dob = born if born is not None else self.born()
            if (given, fam, dob) not in self.people or attempt == 999:
                self.people.add((given, fam, dob))
                break
        postcode, address = home or self.postcode()
        return Child(child_id, given, fam, dob, sex, self.nhs_number(), postcode, address)

    def school_start(self, child: Child) -> date:
        # Joined in the September after they turned 4, 9 or 13 (first/middle/high school).
        age_now = (self.today - child.date_of_birth).days // 365
        stage_age = max(a for a in (4, 9, 13) if a <= age_now)
        started = date(child.date_of_birth.year + stage_age, 9, 1)
        return started if started <= self.today else started.replace(year=started.year - 1)

    def sibling_born(self, born: date) -> date:
        """A birth date one to six years from ``born``, still of school age."""
        low, high = (
            self.today - timedelta(days=17 * 365 + 300),
            self.today - timedelta(days=5 * 366),
        )
        for _ in range(20):
            gap = timedelta(days=self.rng.randrange(365, 6 * 365))
            other = born + gap if self.rng.random() < 0.5 else born - gap
            if low <= other <= high:
                return other
        return self.born()


class _Population:
    """Children and their roll rows, one household at a time (so a national-size roll
    can be written as it is generated)."""

    def __init__(
        self, gen: _Generator, schools: list[Organisation], gps: list[Organisation]
    ) -> None:
        self.gen = gen
        self.rng = gen.rng
        self.schools = schools
        self.gps = gps
        # Four digits of the UPN name the school; two schools may share them (the serial
        # is kept per establishment and year, so UPNs stay unique).
        self.establishment = {s.code: f"{2000 + (i * 7) % 7900:04d}" for i, s in enumerate(schools)}
        self.record_counter: dict[str, int] = {}
        self.made = 0

    def record_id(self, org: str) -> str:
        self.record_counter[org] = self.record_counter.get(org, 0) + 1
        return f"{org}-{self.record_counter[org]:06d}"

    def children(self, count: int) -> Iterator[tuple[Child, list[tuple[str, RollRow]]]]:
        """``count`` children with their ``(roll kind, row)`` pairs."""
        rng, gen = self.rng, self.gen
        while self.made < count:
            draw = rng.random()
            first = gen.child(self._next_id())
            if draw < TWIN_SHARE and self.made < count:
                twin = gen.child(
                    self._next_id(),
                    family=first.family_name,
                    born=first.date_of_birth,
                    home=(first.postcode, first.address),
                    not_like=first.given_name,
                )
                first.twin_of, twin.twin_of = twin.child_id, first.child_id
                school = rng.choice(self.schools)  # twins: one school, one GP
                gp = rng.choice(self.gps)
                yield first, self._rows(first, school, gp, leaver=False)
                yield twin, self._rows(twin, school, gp, leaver=False)
            elif draw < TWIN_SHARE + SIBLING_SHARE and self.made < count:
                sibling = gen.child(
                    self._next_id(),
                    family=first.family_name,
                    born=gen.sibling_born(first.date_of_birth),
                    home=(first.postcode, first.address),
                    not_like=first.given_name,
                )
                first.sibling_of, sibling.sibling_of = sibling.child_id, first.child_id
                gp = rng.choice(self.gps)
                yield first, self._rows(first, rng.choice(self.schools), gp)
                yield sibling, self._rows(sibling, rng.choice(self.schools), gp)
            else:
                yield first, self._rows(first, rng.choice(self.schools), rng.choice(self.gps))

    def _next_id(self) -> str:
        self.made += 1
        return f"C{self.made:06d}"

    def _rows(
        self, child: Child, school: Organisation, gp: Organisation, leaver: bool = True
    ) -> list[tuple[str, RollRow]]:
        rng, gen, today = self.rng, self.gen, self.gen.today
        rows: list[tuple[str, RollRow]] = []
        started = gen.school_start(child)
        # A UPN is for life: allocated by the first school, kept when the child moves.
        child.upn = gen.upn(self.establishment[school.code], started.year)
        if leaver and rng.random() < LEAVER_SHARE:
            # Left one school a while ago and is now on another school's roll.
            old = school
            school = rng.choice([s for s in self.schools[:50] if s.code != old.code])
            left = today - timedelta(days=rng.randrange(14, 200))
            started = min(started, left - timedelta(days=365))
            rows.append(
                ("school", _school_row(old, self.record_id(old.code), child, started, left))
            )
            started = left + timedelta(days=1)
        rows.append(("school", _school_row(school, self.record_id(school.code), child, started)))
        child.school_urn = school.code
        child.gp_code = gp.code
        rows.append(
            (
                "gp",
                RollRow(
                    gp.code,
                    self.record_id(gp.code),
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
                ),
            )
        )
        if rng.random() < YOT_SHARE and (today - child.date_of_birth).days > 10 * 365:
            child.yot = True
            rows.append(
                (
                    "yot",
                    RollRow(
                        YOT_CODE,
                        self.record_id(YOT_CODE),
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
                    ),
                )
            )
        if rng.random() < LOOKED_AFTER_SHARE:
            child.looked_after = True
            if rng.random() < PLACED_FROM_ELSEWHERE_SHARE:
                child.responsible_la = PLACING_LA_CODE
        child.refs = [RollRef(kind, r.org_code, r.record_id, r.from_, r.to) for kind, r in rows]
        return rows


def _area_organisations(
    gen: _Generator, children: int
) -> tuple[list[Organisation], list[Organisation], list[Organisation]]:
    return gen.organisations(schools=max(20, -(-children // 400)), gps=max(8, -(-children // 1500)))


def generate(children: int, seed: int = 0, now: datetime | None = None) -> DemoArea:
    """A synthetic area of ``children`` children whose police feed ends at ``now`` (default:
    the current minute, Europe/London). The same ``seed`` and ``now`` give the same area."""
    if children < 1:
        raise ValueError("children: at least 1")
    now = _reference_now(now)
    gen = _Generator(random.Random(seed), now)
    fixed, schools, gps = _area_organisations(gen, children)
    rolls: dict[str, list[RollRow]] = {"school": [], "gp": [], "yot": []}
    population: list[Child] = []
    for child, rows in _Population(gen, schools, gps).children(children):
        population.append(child)
        for kind, row in rows:
            rolls[kind].append(row)
    feed, truth, invalid = _feed(gen, population)
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


def _reference_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(_london()).replace(second=0, microsecond=0)
    if now.tzinfo is None:
        raise ValueError("now: needs a time zone")
    return now


def _school_row(
    school: Organisation, rid: str, child: Child, started: date, left: date | None = None
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


# Police-record errors ------------------------------------------------------------------


def _nicknames(given: str) -> list[str]:
    """Other forms of ``given`` in the router's nickname table (Bill for William,
    William for Bill), capitalised as a police record would write them."""
    norm = normalise_name(given)
    forms: set[str] = set()
    for canonical, variants in _NICKNAME_GROUPS.items():
        group = (canonical, *variants)
        if norm in group:
            forms.update(group)
    forms.discard(norm)
    return sorted(f.capitalize() for f in forms if are_variants(f, norm))


def _one_edit(name: str, rng: random.Random) -> str:
    """``name`` with one typing error (insertion, deletion, substitution or
    transposition) in one of its letters after the first; the result always differs."""
    letters = [i for i, c in enumerate(name) if c.isalpha() and i > 0]
    for _ in range(20):
        i = rng.choice(letters)
        kind = rng.choice(("insertion", "deletion", "substitution", "transposition"))
        if kind == "insertion":
            typo = name[:i] + rng.choice(_LETTERS) + name[i:]
        elif kind == "deletion" and len(letters) > 2:
            typo = name[:i] + name[i + 1 :]
        elif kind == "substitution":
            typo = name[:i] + rng.choice(_LETTERS.replace(name[i].lower(), "")) + name[i + 1 :]
        elif kind == "transposition" and i + 1 < len(name) and name[i + 1].isalpha():
            typo = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        else:
            continue
        if normalise_name(typo) != normalise_name(name):
            return typo
    return name + rng.choice(_LETTERS)


def _dob_typo(born: date, today: date, rng: random.Random) -> date:
    """``born`` with one digit of its day, month or year's last digit mistyped: still a
    real, past date of a school-age child."""
    text = born.isoformat()  # YYYY-MM-DD
    for _ in range(50):
        i = rng.choice((3, 5, 6, 8, 9))
        typo = text[:i] + str(rng.randrange(10)) + text[i + 1 :]
        try:
            other = date.fromisoformat(typo)
        except ValueError:
            continue
        if other != born and 3 * 365 < (today - other).days < 19 * 365:
            return other
    return born + timedelta(days=1 if born.day < 28 else -1)


def _swappable(born: date) -> bool:
    return born.day <= 12 and born.day != born.month


def _applicable(child: Child) -> list[str]:
    kinds = [k for k in CORRUPTIONS if k not in ("nickname", "double-barrel-part", "dob-swap")]
    if _nicknames(child.given_name):
        kinds.append("nickname")
    if "-" in child.family_name:
        kinds.append("double-barrel-part")
    if _swappable(child.date_of_birth):
        kinds.append("dob-swap")
    return kinds


def choose_corruption(child: Child, rng: random.Random) -> tuple[str, ...]:
    """Which errors a police record of ``child`` carries (none for most)."""
    if rng.random() < CLEAN_SHARE:
        return ()
    wanted = 2 if rng.random() < TWO_ERRORS_SHARE else 1
    chosen: list[str] = []
    options = _applicable(child)
    while len(chosen) < wanted and options:
        pick = rng.choices(options, [CORRUPTION_WEIGHTS[k] for k in options])[0]
        chosen.append(pick)
        clash = set().union(*(group for group in _CONFLICTS if pick in group)) | {pick}
        options = [k for k in options if k not in clash]
    return tuple(k for k in CORRUPTIONS if k in chosen)  # a fixed order: easy to count


def police_child(
    child: Child, gen: _Generator, kinds: tuple[str, ...], with_nhs: bool
) -> dict[str, Any]:
    """The ``child`` block a police record gives for ``child``, with the errors ``kinds``."""
    rng = gen.rng
    given, family, born = child.given_name, child.family_name, child.date_of_birth
    postcode: str | None = child.postcode
    address: str | None = child.address if rng.random() < 0.5 else None
    for kind in kinds:  # CORRUPTIONS order: name changes before a swap of the names
        if kind == "nickname":
            given = rng.choice(_nicknames(given))
        elif kind == "family-typo":
            family = _one_edit(family, rng)
        elif kind == "double-barrel-part":
            family = rng.choice(family.split("-"))
        elif kind == "name-change":
            # A new family name (adoption, a parent's marriage); same birth date and home.
            while normalise_name(new := gen.family_name()) == normalise_name(family):
                pass
            family = new
        elif kind == "names-swapped":
            given, family = family, given
        elif kind == "dob-swap":
            born = date(born.year, born.day, born.month)
        elif kind == "dob-typo":
            born = _dob_typo(born, gen.today, rng)
        elif kind == "no-postcode":
            postcode = address = None
        elif kind == "old-postcode":
            # The family moved; police still hold the old address (often in the same town).
            same_town = rng.random() < 0.5
            outward = child.postcode.split()[0] if same_town else None
            while (old := gen.postcode(outward))[0] == child.postcode:
                pass
            postcode, address = old[0], (old[1] if address else None)
    block: dict[str, Any] = {
        "given_name": given,
        "family_name": family,
        "date_of_birth": born.isoformat(),
        "sex": child.sex,
    }
    if postcode:
        block["postcode"] = postcode
    if address:
        block["address"] = address
    if with_nhs:
        block["nhs_number"] = child.nhs_number
    if child.looked_after:
        block["looked_after"] = True
        block["responsible_la"] = child.responsible_la
    return block


def _truth(event_id: str, child: Child, on: date, valid: bool, kinds: tuple[str, ...]) -> TruthRow:
    school = child.record_on("school", on)
    gp = child.record_on("gp", on)
    yot = child.record_on("yot", on)
    return TruthRow(
        event_id,
        child.child_id,
        child.school_urn if school else "",
        child.gp_code if gp else "",
        YOT_CODE if yot else "",
        child.responsible_la,
        valid,
        school,
        gp,
        yot,
        kinds,
        bool(child.twin_of),
    )


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

    def episode(
        self,
        child: Child,
        start: datetime,
        companions: list[Child],
        ends_before: datetime | None = None,
        kinds: tuple[str, ...] = (),
    ) -> list[dict[str, Any]]:
        """One episode's events from ``start``; squeezed to end before ``ends_before`` (a
        child's next episode), cut at ``now`` (what has not happened stays open). Every
        event of the episode repeats the child as first recorded, with the errors
        ``kinds``."""
        rng = self.rng
        ref = self.next_ref(start)
        block = police_child(child, self.gen, kinds, rng.random() < POLICE_NHS_SHARE)
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
    gen: _Generator, population: list[Child]
) -> tuple[list[dict[str, Any]], list[TruthRow], set[str]]:
    rng = gen.rng
    episodes = _Episodes(gen)
    window_start = episodes.now - timedelta(days=FEED_DAYS)
    # Looked-after children go missing far more often (DOMAIN.md): weight them up. A few
    # twins always, so that every feed tests the one case that must never auto-match.
    looked_after = [c for c in population if c.looked_after]
    twins = [c for c in population if c.twin_of and not c.looked_after]
    wanted = max(1, round(len(population) * MISSING_SHARE))
    chosen = rng.sample(looked_after, min(len(looked_after), max(1, wanted // 5)))
    chosen += rng.sample(twins, min(len(twins), max(1, round(wanted * TWIN_MISSING_SHARE))))
    taken = {c.child_id for c in chosen}
    others = [c for c in population if c.child_id not in taken and not c.looked_after]
    chosen += rng.sample(others, min(len(others), max(0, wanted - len(chosen))))
    rng.shuffle(chosen)

    feed: list[dict[str, Any]] = []
    truth: list[TruthRow] = []

    def add(
        events: list[dict[str, Any]], child: Child, kinds: tuple[str, ...], valid: bool
    ) -> None:
        for event in events:
            feed.append(event)
            on = _local_date(datetime.fromisoformat(event["occurred_at"]))
            truth.append(_truth(event["event_id"], child, on, valid, kinds))

    for i, child in enumerate(chosen):
        repeats = 3 if rng.random() < REPEAT_SHARE else 1
        companions = [chosen[i - 1]] if i and rng.random() < 0.3 else []
        slot = (episodes.now - window_start) / repeats
        for r in range(repeats):
            first = window_start + slot * r
            start = episodes.start_between(first, first + slot * 0.6)
            ends_before = first + slot if r < repeats - 1 else None
            kinds = choose_corruption(child, rng)
            add(episodes.episode(child, start, companions, ends_before, kinds), child, kinds, True)

    # Children on no roll: visiting from elsewhere, or missed by every organisation.
    off_roll = max(1, round(len(feed) * OFF_ROLL_EVENT_SHARE / 3))
    for n in range(1, off_roll + 1):
        stranger = gen.child(f"X{n:06d}")
        start = episodes.start_between(window_start, episodes.now - timedelta(hours=1))
        kinds = choose_corruption(stranger, rng)
        add(episodes.episode(stranger, start, [], kinds=kinds), stranger, kinds, True)

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
        add([event], child, (), False)

    order = sorted(range(len(feed)), key=lambda k: (feed[k]["occurred_at"], feed[k]["event_id"]))
    return [feed[k] for k in order], [truth[k] for k in order], invalid_ids


def record_row(record_id: str, child: dict[str, Any]) -> list[str]:
    """A police record as a row of ``records.csv`` (roll columns, ``org_code`` empty)."""
    return [
        "",
        record_id,
        child["given_name"],
        child["family_name"],
        child["date_of_birth"],
        child.get("sex", ""),
        child.get("nhs_number", ""),
        child.get("upn", ""),
        child.get("postcode", ""),
        child.get("address", ""),
        "",
        "",
    ]


def _write_csv(path: Path, header: tuple[str, ...], rows: Any) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def write_area(area: DemoArea, out: Path) -> dict[str, int]:
    """Write the area's files into ``out``; returns the rows written per file."""
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    files: list[tuple[str, tuple[str, ...], Any]] = [
        ("organisations.csv", ORGANISATION_COLUMNS, (o.as_csv() for o in area.organisations)),
        ("roll_schools.csv", ROLL_COLUMNS, (r.as_csv() for r in area.school_roll)),
        ("roll_gps.csv", ROLL_COLUMNS, (r.as_csv() for r in area.gp_roll)),
        ("roll_yot.csv", ROLL_COLUMNS, (r.as_csv() for r in area.yot_roll)),
        ("truth.csv", TRUTH_COLUMNS, (t.as_csv() for t in area.truth)),
        # The police records alone, to score `relay link` against truth.csv.
        ("records.csv", ROLL_COLUMNS, (record_row(e["event_id"], e["child"]) for e in area.feed)),
    ]
    for name, header, rows in files:
        counts[name] = _write_csv(out / name, header, rows)
    with (out / "feed.ndjson").open("w", encoding="utf-8") as handle:
        for event in area.feed:
            handle.write(json.dumps(event, ensure_ascii=False) + "\n")
    counts["feed.ndjson"] = len(area.feed)
    # The area's own authority hears of every episode nobody else claims (DESIGN §6).
    # Dead letters reach a person (the operations mailbox lands in var/outbox/ too).
    (out / "policy.toml").write_text(
        "# Routing policy of the demo partnership (RELAY_POLICY_FILE).\n"
        'operations_email = "relay-support@northumberland.example.org"\n\n'
        f'[routing]\ndefault_la = "{LA_CODE}"\n',
        encoding="utf-8",
    )
    return counts


# The benchmark's national-size roll --------------------------------------------------


@dataclass
class BenchArea:
    """What :func:`write_bench_area` wrote, and the police records to look up."""

    organisations: Path
    rolls: list[Path]
    roll_rows: int
    children: int
    on: date
    records: list[dict[str, Any]]  # {"record_id": ..., "child": {...}} (ChildV1 fields)
    truth: list[TruthRow]


def write_bench_area(
    out: Path,
    roll_rows: int,
    records: int = 2000,
    seed: int = 0,
    now: datetime | None = None,
    off_roll_share: float = OFF_ROLL_EVENT_SHARE,
) -> BenchArea:
    """Stream school rolls, GP lists and the YOT caseload totalling about ``roll_rows``
    rows into ``out`` (``organisations.csv``, ``roll_schools.csv``, ``roll_gps.csv``,
    ``roll_yot.csv``: every organisation the truth names has its roll), keeping in memory
    only the few children drawn for ``records`` police records (with errors, as in the
    feed) and their truth. Also writes ``records.csv`` and ``truth.csv``."""
    now = _reference_now(now)
    on = now.date()
    children = max(2, round(roll_rows / (2 + LEAVER_SHARE)))
    gen = _Generator(random.Random(seed), now)
    fixed, schools, gps = _area_organisations(gen, children)
    out.mkdir(parents=True, exist_ok=True)
    organisations = out / "organisations.csv"
    _write_csv(organisations, ORGANISATION_COLUMNS, (o.as_csv() for o in fixed + schools + gps))
    # Who to keep is drawn from its own generator, so the rolls do not depend on it.
    keep_rng = random.Random(seed + 1)
    keep_share = min(1.0, 2.0 * records / children)
    kept: list[Child] = []
    twins: list[Child] = []
    paths = {
        "school": out / "roll_schools.csv",
        "gp": out / "roll_gps.csv",
        "yot": out / "roll_yot.csv",
    }
    written = 0
    with (
        paths["school"].open("w", newline="", encoding="utf-8") as school_file,
        paths["gp"].open("w", newline="", encoding="utf-8") as gp_file,
        paths["yot"].open("w", newline="", encoding="utf-8") as yot_file,
    ):
        writers = {
            "school": csv.writer(school_file, lineterminator="\n"),
            "gp": csv.writer(gp_file, lineterminator="\n"),
            "yot": csv.writer(yot_file, lineterminator="\n"),
        }
        for writer in writers.values():
            writer.writerow(ROLL_COLUMNS)
        for child, rows in _Population(gen, schools, gps).children(children):
            for kind, row in rows:
                if kind in writers:
                    writers[kind].writerow(row.as_csv())
                    written += 1
            if child.twin_of:
                twins.append(child)  # about 3% of children; ids and a few fields only
            elif keep_rng.random() < keep_share:
                kept.append(child)
    twin_cases = min(len(twins), max(1, round(records * TWIN_MISSING_SHARE)))
    strangers = round(records * off_roll_share)
    chosen = keep_rng.sample(twins, twin_cases)
    chosen += keep_rng.sample(kept, min(len(kept), max(0, records - twin_cases - strangers)))
    chosen += [gen.child(f"X{n:06d}") for n in range(1, records - len(chosen) + 1)]
    keep_rng.shuffle(chosen)
    police: list[dict[str, Any]] = []
    truth: list[TruthRow] = []
    for n, child in enumerate(chosen, start=1):
        kinds = choose_corruption(child, gen.rng)
        record_id = f"R{n:07d}"
        block = police_child(child, gen, kinds, gen.rng.random() < POLICE_NHS_SHARE)
        police.append({"record_id": record_id, "child": block})
        truth.append(_truth(record_id, child, on, True, kinds))
    _write_csv(
        out / "records.csv",
        ROLL_COLUMNS,
        (record_row(p["record_id"], p["child"]) for p in police),
    )
    _write_csv(out / "truth.csv", TRUTH_COLUMNS, (t.as_csv() for t in truth))
    return BenchArea(organisations, list(paths.values()), written, children, on, police, truth)

"""Children and their organisations: identifiers, households and the roll rows that
record them, drawn from one seeded generator."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta

from relay.demo_data.model import (
    DFE_LA_NUMBER,
    DOUBLE_BARREL_SHARE,
    FORCE_CODE,
    GP_NHS_SHARE,
    LA_CODE,
    LA_NAME,
    LEAVER_SHARE,
    LOOKED_AFTER_SHARE,
    MSET_CODE,
    PLACED_FROM_ELSEWHERE_SHARE,
    PLACING_LA_CODE,
    REAL_SURNAME_SHARE,
    SIBLING_SHARE,
    TWIN_SHARE,
    YOT_CODE,
    YOT_SHARE,
    Child,
    Organisation,
    RollRef,
    RollRow,
    slug,
)
from relay.demo_data.names import FAMILY, FAMILY_COMPOSED, GIVEN_ALL
from relay.demo_data.places import GP_KINDS, INWARD_LETTERS, SCHOOL_KINDS, STREETS, TOWNS
from schemas.identifiers import nhs_number_check_digit, upn_check_letter
from services.router.names import normalise_name
from services.router.nicknames import are_variants


class AreaGenerator:
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
        outward = outward or self.rng.choice(list(TOWNS))
        inward = f"{self.rng.randrange(1, 10)}{self.rng.choice(INWARD_LETTERS)}" + (
            self.rng.choice(INWARD_LETTERS)
        )
        street = f"{self.rng.randrange(1, 180)} {self.rng.choice(STREETS)}"
        return f"{outward} {inward}", f"{street}, {TOWNS[outward]}"

    def family_name(self) -> str:
        rng = self.rng
        pool = FAMILY if rng.random() < REAL_SURNAME_SHARE else FAMILY_COMPOSED
        name = rng.choice(pool)
        if rng.random() < DOUBLE_BARREL_SHARE:
            other = rng.choice(FAMILY_COMPOSED if rng.random() < 0.6 else FAMILY)
            if normalise_name(other) != normalise_name(name):
                name = f"{name}-{other}"
        return name

    # organisations ------------------------------------------------------------------
    def organisations(
        self, schools: int, gps: int
    ) -> tuple[list[Organisation], list[Organisation], list[Organisation]]:
        fixed = self._fixed_organisations()
        towns = sorted(set(TOWNS.values()))
        return fixed, self._schools(schools, towns), self._gp_practices(gps, towns)

    def _fixed_organisations(self) -> list[Organisation]:
        la_domain = "northumberland.example.org"
        return [
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

    def _schools(self, schools: int, towns: list[str]) -> list[Organisation]:
        urns = self.rng.sample(range(100_000, 999_999), schools)
        school_orgs = []
        for i, urn in enumerate(urns):
            kind = SCHOOL_KINDS[(i // len(towns)) % len(SCHOOL_KINDS)]
            name = f"{towns[i % len(towns)]} {kind}"
            if i >= len(towns) * len(SCHOOL_KINDS):
                name += f" {i}"
            domain = f"{slug(name)}.example.org"
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
        return school_orgs

    def _gp_practices(self, gps: int, towns: list[str]) -> list[Organisation]:
        codes = self.rng.sample(range(10_000, 99_999), gps)
        gp_orgs = []
        for i, number in enumerate(codes):
            name = f"{towns[(i * 5) % len(towns)]} {GP_KINDS[i % len(GP_KINDS)]}"
            if i >= len(towns):
                name += f" {i}"
            domain = f"{slug(name)}.example.org"
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
        return gp_orgs

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
            given = self.rng.choice(GIVEN_ALL[sex])
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


class Population:
    """Children and their roll rows, one household at a time (so a national-size roll
    can be written as it is generated)."""

    def __init__(
        self, gen: AreaGenerator, schools: list[Organisation], gps: list[Organisation]
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
        rng, today = self.rng, self.gen.today
        rows = self._school_rows(child, school, leaver)
        child.gp_code = gp.code
        nhs = child.nhs_number if rng.random() < GP_NHS_SHARE else ""
        registered = child.date_of_birth + timedelta(days=rng.randrange(0, 60))
        rid = self.record_id(gp.code)
        rows.append(("gp", _roll_row(gp.code, rid, child, nhs=nhs, from_=registered)))
        if rng.random() < YOT_SHARE and (today - child.date_of_birth).days > 10 * 365:
            child.yot = True
            since = today - timedelta(days=rng.randrange(20, 400))
            rid = self.record_id(YOT_CODE)
            rows.append(("yot", _roll_row(YOT_CODE, rid, child, nhs=child.nhs_number, from_=since)))
        if rng.random() < LOOKED_AFTER_SHARE:
            child.looked_after = True
            if rng.random() < PLACED_FROM_ELSEWHERE_SHARE:
                child.responsible_la = PLACING_LA_CODE
        child.refs = [RollRef(kind, r.org_code, r.record_id, r.from_, r.to) for kind, r in rows]
        return rows

    def _school_rows(
        self, child: Child, school: Organisation, leaver: bool
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
            rid = self.record_id(old.code)
            rows.append(
                ("school", _roll_row(old.code, rid, child, upn=child.upn, from_=started, to=left))
            )
            started = left + timedelta(days=1)
        rid = self.record_id(school.code)
        rows.append(("school", _roll_row(school.code, rid, child, upn=child.upn, from_=started)))
        child.school_urn = school.code
        return rows


def area_organisations(
    gen: AreaGenerator, children: int
) -> tuple[list[Organisation], list[Organisation], list[Organisation]]:
    return gen.organisations(schools=max(20, -(-children // 400)), gps=max(8, -(-children // 1500)))


def _roll_row(
    org_code: str,
    rid: str,
    child: Child,
    *,
    nhs: str = "",
    upn: str = "",
    from_: date | None = None,
    to: date | None = None,
) -> RollRow:
    return RollRow(
        org_code,
        rid,
        child.given_name,
        child.family_name,
        child.date_of_birth,
        child.sex,
        nhs,
        upn,
        child.postcode,
        child.address,
        from_,
        to,
    )

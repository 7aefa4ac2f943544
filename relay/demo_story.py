"""The story ``relay up --demo`` tells (issue 23): a police feed placed in the present,
over the children of the synthetic area (relay/demo_data.py), and what a few recipients
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
import random
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from relay.demo_data import FORCE_CODE, PLACING_LA_CODE, Child, DemoArea, Organisation

POLICE_CONTACTS = (
    ("DC Sarah Hall", "0191 498 0112", "sarah.hall@northumbria.police.example"),
    ("PC Mark Dixon", "0191 498 0347", "mark.dixon@northumbria.police.example"),
    ("PS Joanne Hewitt", "0191 498 0581", "joanne.hewitt@northumbria.police.example"),
)
PLACES = {
    "haymarket": ("NE1 7PF", "Haymarket bus station, Newcastle"),
    "sunderland": ("SR1 3PR", "Park Lane interchange, Sunderland"),
    "blyth": ("NE24 2AP", "Blyth beach front"),
    "morpeth": ("NE61 1PN", "Carlisle Park, Morpeth"),
    "ashington": ("NE63 9YH", "Ashington town centre"),
}
FIRST_SERIAL = 8001  # police references of the story: 10-<year>-008001 on


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


@dataclass(frozen=True)
class _Step:
    type: str
    at: datetime
    extra: dict[str, Any] = field(default_factory=dict)


class _Teller:
    def __init__(self, area: DemoArea, now: datetime, seed: int) -> None:
        self.area = area
        self.now = now.replace(second=0, microsecond=0)
        self.today = self.now.date()
        self.rng = random.Random(seed)
        self.orgs = {o.code: o for o in area.organisations}
        self.serial = FIRST_SERIAL
        self.events: list[dict[str, Any]] = []
        self.cast: dict[str, str] = {}
        self.taken: set[str] = set()

    # the cast -------------------------------------------------------------------------
    def pick(self, wanted: str, older_than: int = 11) -> Child:
        """A child of the area for a part: on a school roll and a GP list today, aged
        over ``older_than``, not cast before."""

        def fits(c: Child) -> bool:
            age = (self.today - c.date_of_birth).days / 365.25
            plain = not (c.twin_of or c.sibling_of or c.looked_after or c.yot)
            kinds = {
                "plain": plain,
                "yot": c.yot and bool(c.record_on("yot", self.today)) and not c.looked_after,
                "placed": c.looked_after and c.responsible_la == PLACING_LA_CODE,
                "twin": bool(c.twin_of) and not c.looked_after,
            }
            return (
                kinds[wanted]
                and c.child_id not in self.taken
                and bool(c.record_on("school", self.today) and c.record_on("gp", self.today))
                and older_than < age < 17.5
            )

        choices = [c for c in self.area.children if fits(c)]
        if not choices and older_than > 5:  # a small area: any school-age child will do
            return self.pick(wanted, older_than=5)
        if not choices:
            raise ValueError(f"the area has no child for the part {wanted!r}")
        child = self.rng.choice(choices)
        self.taken.add(child.child_id)
        return child

    def org(self, child: Child, kind: str) -> Organisation:
        code = {"school": child.school_urn, "gp": child.gp_code}.get(kind)
        if kind == "yot":
            code = next(r.org_code for r in child.refs if r.kind == "yot")
        return self.orgs[str(code)]

    # events ---------------------------------------------------------------------------
    def ago(self, **delta: float) -> datetime:
        return self.now - timedelta(**delta)

    def later(self, **delta: float) -> datetime:
        return self.now + timedelta(**delta)

    def episode(
        self,
        part: str,
        child: Child,
        steps: list[_Step],
        *,
        grade: str = "medium",
        factors: tuple[str, ...] = (),
        given_name: str | None = None,
        nhs_number: str | None = None,
    ) -> str:
        ref = f"{FORCE_CODE}-{steps[0].at.year}-{self.serial:06d}"
        self.serial += 1
        self.cast[part] = ref
        name, phone, email = POLICE_CONTACTS[self.serial % len(POLICE_CONTACTS)]
        record: dict[str, Any] = {
            "given_name": given_name or child.given_name,
            "family_name": child.family_name,
            "date_of_birth": child.date_of_birth.isoformat(),
            "sex": child.sex,
            "postcode": child.postcode,
        }
        if nhs_number:
            record["nhs_number"] = nhs_number
        if child.looked_after:
            record["looked_after"] = True
            record["responsible_la"] = child.responsible_la
        common = {
            "force_code": FORCE_CODE,
            "episode_ref": ref,
            "child": record,
            "missing_from": "care" if child.looked_after else "home",
            "police_contact": {"name": name, "phone": phone, "email": email},
        }
        for seq, step in enumerate(steps, start=1):
            event: dict[str, Any] = {
                "event_id": f"NP-{ref}-{seq:02d}",
                "type": step.type,
                "occurred_at": step.at.isoformat(timespec="seconds"),
                **common,
                **step.extra,
            }
            if step.type == "reported" and "risk" not in step.extra:
                event["risk"] = {"grade": grade, "factors": sorted(factors)}
            self.events.append(event)
        return ref


def reported(at: datetime) -> _Step:
    return _Step("reported", at)


def still_missing(at: datetime) -> _Step:
    return _Step("still-missing", at)


def found(at: datetime, place: str, *, with_: list[Child] | None = None) -> _Step:
    postcode, description = PLACES[place]
    extra: dict[str, Any] = {"location": {"postcode": postcode, "description": description}}
    if with_:
        extra["found_with"] = [
            {
                "given_name": c.given_name,
                "family_name": c.family_name,
                "date_of_birth": c.date_of_birth.isoformat(),
            }
            for c in with_
        ]
    return _Step("found", at, extra)


def returned(at: datetime) -> _Step:
    return _Step("returned", at)


def closed(at: datetime) -> _Step:
    return _Step("closed", at)


def tell(area: DemoArea, now: datetime, seed: int = 23) -> Story:
    """The story over ``area``, placed so that ``now`` is its present."""
    t = _Teller(area, now, seed)
    ago, later = t.ago, t.later

    # A week behind it. ----------------------------------------------------------------
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
            _Step(
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

    # Found together, returned yesterday. --------------------------------------------
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

    # Returned yesterday; one interview done this morning. --------------------------
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

    # Missing for the third time this quarter. ---------------------------------------
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

    # Reported minutes ago. -----------------------------------------------------------
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

    # The clock runs on. ---------------------------------------------------------------
    t.episode("reported while you watch", t.pick("plain"), [reported(later(minutes=8))])
    t.episode(
        "reported while you watch, later",
        t.pick("plain"),
        [reported(later(minutes=15))],
        grade="high",
    )

    replies = [
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
    interviews = [
        Interview(t.now, t.cast["interviewed within the 72 hours"], ago(hours=22), "Amy Reid"),
        Interview(t.now, t.cast["returned yesterday, interviewed today"], ago(hours=3), "Amy Reid"),
    ]
    events = sorted(t.events, key=lambda e: (e["occurred_at"], e["event_id"]))
    return Story(t.now, events, replies, interviews, t.cast)


def stranger(today: date) -> Child:
    """A child the area's rolls do not know: visiting from elsewhere."""
    born = date(today.year - 14, 6, 14)
    return Child(
        "visitor",
        "Callum",
        "Fairbairn",
        born,
        "male",
        "",
        "DH1 3HP",
        "12 Claypath, Durham",
    )

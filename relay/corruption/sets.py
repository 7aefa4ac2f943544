"""A labelled test set: the roll (school rolls, and GP lists with a ``gp_coverage``),
the police records made from the population by the corruption model, the labels, and
the three CSV files ``relay matching generate`` writes."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from random import Random

from relay.corruption.errors import Mix, corrupt
from relay.corruption.population import Child, households, title
from schemas.episode import ChildV1
from services.router.directory import RollRecord
from services.router.names import normalise_name

ROLL_COLUMNS = (
    "org_code",
    "record_id",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "postcode",
    "address",
)
RECORD_COLUMNS = ROLL_COLUMNS[1:]
# ``modifications``: what corrupt() did to the record ("ocr:given_name+date_digit"),
# for breaking misses down by cause; no matcher reads it.
LABEL_COLUMNS = ("record_id", "roll_record_id", "group", "modifications")
SCHOOLS = tuple(f"{140001 + i}" for i in range(12))
GP_PRACTICES = tuple(f"A8100{i}" for i in range(1, 5))  # ODS codes' shape


@dataclass
class TestSet:
    roll: list[dict[str, str]] = field(default_factory=list)
    records: list[dict[str, str]] = field(default_factory=list)
    labels: list[dict[str, str]] = field(default_factory=list)
    population: int = 0  # children the set was drawn from (0: not known)

    @property
    def gp_rows(self) -> int:
        return sum(row["org_code"] in GP_PRACTICES for row in self.roll)

    @property
    def unlisted(self) -> int:
        """Children of the population on no school roll and no GP list."""
        return self.population - len({row["record_id"] for row in self.roll})

    def roll_records(self) -> list[RollRecord]:
        """The roll as the matcher holds it (normalised names, no NHS number or UPN)."""
        return [
            RollRecord(
                org_code=row["org_code"],
                record_id=row["record_id"],
                given_name=row["given_name"],
                family_name=row["family_name"],
                date_of_birth=date.fromisoformat(row["date_of_birth"]),
                norm_given=normalise_name(row["given_name"]),
                norm_family=normalise_name(row["family_name"]),
                postcode=row["postcode"] or None,
                address=row["address"] or None,
                sex=row["sex"],
            )
            for row in self.roll
        ]

    def children(self) -> list[tuple[str, ChildV1]]:
        """Each police record as the router receives it, with its record id."""
        return [
            (
                row["record_id"],
                ChildV1(
                    given_name=row["given_name"],
                    family_name=row["family_name"],
                    date_of_birth=date.fromisoformat(row["date_of_birth"]),
                    sex=row["sex"],
                    postcode=row["postcode"] or None,  # often empty: a decision all the same
                    address=row["address"] or None,
                ),
            )
            for row in self.records
        ]


def _roll_row(c: Child, org_code: str, no_address: bool, no_postcode: bool) -> dict[str, str]:
    return {
        "org_code": org_code,
        "record_id": c.roll_id,
        "given_name": title(c.given),
        "family_name": title(c.family),
        "date_of_birth": c.born.isoformat(),
        "sex": c.sex,
        "postcode": "" if no_postcode else c.postcode,
        "address": "" if no_address else c.address,
    }


def _gp_lists(
    rng: Random, population: Sequence[Child], roll_id: str, mix: Mix, coverage: float
) -> list[dict[str, str]]:
    """GP rows: a practice per household (families register together), each child on
    its list with probability ``coverage`` and given its ``roll_id`` (formatted with its
    ``child_id``, as its school row's) if no school gave it one. Every child draws the
    same whatever the coverage, so a higher one only adds rows."""
    practice: dict[int, str] = {}
    rows = []
    for c in population:
        code = practice.setdefault(c.household_id, rng.choice(GP_PRACTICES))
        listed = rng.random() < coverage
        missing = rng.random() < mix.missing_on_roll  # as on school rows, drawn apart
        no_postcode = rng.random() < 0.5
        if listed:
            c.roll_id = roll_id.format(c.child_id)
            rows.append(_roll_row(c, code, missing, missing and no_postcode))
    return rows


def generate(seed: int, children: int, records: int, mix: Mix, gp_coverage: float = 0.0) -> TestSet:
    """A roll of about ``children`` x (1 - off_roll) rows in 12 schools plus about
    ``children`` x ``gp_coverage`` rows on 4 GP practices' lists, and ``records`` police
    records of children drawn from the whole population.

    The GP lists draw from a stream of their own: a seed's school rows and records are
    the same whatever the coverage (at 0 the set is the one before GP lists existed),
    and only the labels of children on no school roll but on a GP list change."""
    if not 0.0 <= gp_coverage <= 1.0:
        raise ValueError(f"gp_coverage {gp_coverage} is not a share between 0 and 1")
    rng = Random(seed)
    population = households(rng, children)
    out = TestSet(population=len(population))
    roll_id = f"R{seed}-{{:07d}}"
    for c in population:
        if rng.random() < mix.off_roll:
            continue
        c.org_code, c.roll_id = rng.choice(SCHOOLS), roll_id.format(c.child_id)
        missing = rng.random() < mix.missing_on_roll
        # The postcode's draw only when missing: the order the seeds' sets were made in.
        out.roll.append(_roll_row(c, c.org_code, missing, missing and rng.random() < 0.5))
    out.roll += _gp_lists(Random(f"{seed}-gp"), population, roll_id, mix, gp_coverage)
    for n, c in enumerate(rng.sample(population, min(records, len(population)))):
        record_id = f"Q{seed}-{n:06d}"
        applied: list[str] = []
        out.records.append({"record_id": record_id, **corrupt(rng, c, mix, applied)})
        out.labels.append(
            {
                "record_id": record_id,
                "roll_record_id": c.roll_id,
                "group": c.group,
                "modifications": "+".join(applied),
            }
        )
    return out


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)


def write_set(folder: Path, data: TestSet) -> tuple[Path, Path, Path]:
    """``roll.csv``, ``records.csv`` and ``labels.csv`` in ``folder``."""
    paths = (folder / "roll.csv", folder / "records.csv", folder / "labels.csv")
    write_csv(paths[0], ROLL_COLUMNS, data.roll)
    write_csv(paths[1], RECORD_COLUMNS, data.records)
    write_csv(paths[2], LABEL_COLUMNS, data.labels)
    return paths

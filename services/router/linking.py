"""``relay link`` (DESIGN §5): match a file of records against a roll file without
touching any store, so a partnership can measure matching on its own data."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas.episode import ChildV1
from services.router.directory import RollParser, RollRecord, RowIssue
from services.router.matching import match_child

DECISION_COLUMNS = ("record_id", "decision", "roll_record_id", "org_code", "score")


class _Anything:
    def __contains__(self, item: object) -> bool:
        return True


@dataclass
class RollIndex:
    """The lookups the router's repository does, over an in-memory roll."""

    by_nhs: dict[str, list[RollRecord]] = field(default_factory=lambda: defaultdict(list))
    by_upn: dict[str, list[RollRecord]] = field(default_factory=lambda: defaultdict(list))
    by_family_dob: dict[tuple[str, date], list[RollRecord]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def add(self, record: RollRecord) -> None:
        if record.nhs_number:
            self.by_nhs[record.nhs_number].append(record)
        if record.upn:
            self.by_upn[record.upn].append(record)
        self.by_family_dob[(record.norm_family, record.date_of_birth)].append(record)

    def candidates(self, norm_given: str, norm_family: str, child: ChildV1) -> list[RollRecord]:
        found = [
            *self.by_family_dob.get((norm_family, child.date_of_birth), []),
            *self.by_family_dob.get((norm_given, child.date_of_birth), []),
            *(self.by_nhs.get(child.nhs_number, []) if child.nhs_number else []),
            *(self.by_upn.get(child.upn, []) if child.upn else []),
        ]
        return found


def _rows(path: Path, fill_org: bool) -> Iterator[tuple[RollParser, list[str], int]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None) or []
        pad = fill_org and "org_code" not in [h.strip().lower() for h in header]
        parser = RollParser([*header, "org_code"] if pad else header, _Anything())
        for row in reader:
            if any(row):
                yield parser, [*row, "-"] if pad else row, reader.line_num


def load_roll(path: Path) -> tuple[RollIndex, list[RowIssue]]:
    index, issues = RollIndex(), []
    for parser, row, line in _rows(path, fill_org=False):
        parsed = parser.parse(row, line)
        issues += parsed.issues
        if parsed.values is not None:
            v = parsed.values
            index.add(
                RollRecord(
                    org_code=v["org_code"],
                    record_id=v["record_id"],
                    given_name=v["given_name"],
                    family_name=v["family_name"],
                    date_of_birth=v["date_of_birth"],
                    norm_given=v["norm_given"],
                    norm_family=v["norm_family"],
                    nhs_number=v["nhs_number"],
                    upn=v["upn"],
                    postcode=v["postcode"],
                    valid_from=v["valid_from"],
                    valid_to=v["valid_to"],
                )
            )
    return index, issues


def link(index: RollIndex, records: Path, on: date) -> Iterator[dict[str, Any] | RowIssue]:
    """Decision rows for every record (one per candidate organisation, or one
    ``no-match``), and the records' problems."""
    for parser, row, line in _rows(records, fill_org=True):
        parsed = parser.parse(row, line)
        yield from parsed.issues
        v = parsed.values
        if v is None:
            continue
        try:
            child = ChildV1(
                given_name=v["given_name"],
                family_name=v["family_name"],
                date_of_birth=v["date_of_birth"],
                nhs_number=v["nhs_number"],
                upn=v["upn"],
                postcode=v["postcode"],
            )
        except ValidationError:
            yield RowIssue(line, "(row)", "not a valid child record", skipped=True)
            continue
        decisions = match_child(
            child, index.candidates(v["norm_given"], v["norm_family"], child), on
        )
        useful = [d for d in decisions if d.decision != "no-match"]
        if not useful:
            yield {
                "record_id": v["record_id"],
                "decision": "no-match",
                "roll_record_id": "",
                "org_code": "",
                "score": "0.00",
            }
        for d in useful:
            yield {
                "record_id": v["record_id"],
                "decision": d.decision,
                "roll_record_id": d.roll_record_id,
                "org_code": d.org_code,
                "score": f"{d.score:.2f}",
            }

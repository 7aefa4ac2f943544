"""``relay link`` (DESIGN §5): match a file of records against a roll file without
touching any store, so a partnership can measure matching on its own data.

The roll is held in memory behind the same blocking keys the router stores per roll row
(:func:`services.router.blocking.roll_keys` and the roll's own, probed with
:func:`~services.router.blocking.roll_probe_keys`) plus NHS number and UPN, and every record
is decided by the router's own :func:`services.router.matching.match_child`: what
``relay link`` measures is what the router does. The records file is streamed.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas.episode import ChildV1
from services.router.blocking import (
    ADDRESS_KEY,
    ROLL_ONLY_COLUMNS,
    address_key,
    names_row_fits,
    probe_keys,
    roll_keys,
    roll_only_keys,
    roll_probe_keys,
)
from services.router.directory import RollRecord, RowIssue
from services.router.matching import MatchDecision, match_child
from services.router.model import MatchingModel
from services.router.roll_parser import RollParser
from services.router.weights import BASELINE

DECISION_COLUMNS = ("record_id", "decision", "roll_record_id", "org_code", "score")

_RANK = {"match": 2, "review": 1, "no-match": 0}
# Key columns whose rows are compared only when blocking.names_row_fits.
_FITTED = ("key_names", ADDRESS_KEY)


class _Anything:
    def __contains__(self, item: object) -> bool:
        return True


class RollIndex:
    """The lookups the router's repository does (blocking keys, NHS number, UPN), over
    an in-memory roll."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], list[RollRecord]] = defaultdict(list)
        self.records: list[RollRecord] = []

    @property
    def size(self) -> int:
        return len(self.records)

    def add(self, record: RollRecord) -> None:
        self.records.append(record)
        keys = roll_keys(
            record.given_name, record.family_name, record.date_of_birth, record.postcode
        )
        for column, value in keys.as_dict().items():
            if value is not None:
                self._keys[(column, value)].append(record)
        roll_only = roll_only_keys(
            record.given_name,
            record.family_name,
            record.date_of_birth.isoformat(),
            record.address,
        )
        for column, value in zip(ROLL_ONLY_COLUMNS, roll_only, strict=True):
            if value is not None:
                self._keys[(column, value)].append(record)
        if record.nhs_number:
            self._keys[("nhs_number", record.nhs_number)].append(record)
        if record.upn:
            self._keys[("upn", record.upn)].append(record)

    def candidates(self, child: ChildV1) -> list[RollRecord]:
        """Every roll record sharing a blocking key, the NHS number or the UPN with
        ``child`` (each once)."""
        probes = roll_probe_keys(
            child.given_name, child.family_name, child.date_of_birth, child.postcode
        )
        wanted = [(column, value) for column, values in probes.items() for value in values]
        address = address_key(child.address)
        if address is not None:
            wanted.append((ADDRESS_KEY, address))
        if child.nhs_number:
            wanted.append(("nhs_number", child.nhs_number))
        if child.upn:
            wanted.append(("upn", child.upn))
        # As the router's query does: a row only the names or address key finds is
        # compared when its date or postcode could be the child's
        # (blocking.names_row_fits).
        born, postcode = child.date_of_birth, child.postcode
        return self._lookup(
            wanted, lambda r: names_row_fits(born, postcode, r.date_of_birth, r.postcode)
        )

    def blocked(self, child: ChildV1, column: str) -> list[RollRecord]:
        """The roll records one blocking key column retrieves for ``child`` (model
        training runs one session per column, services/router/estimation.py)."""
        probes = probe_keys(
            child.given_name, child.family_name, child.date_of_birth, child.postcode
        )
        return self._lookup([(column, value) for value in probes[column]])

    def _lookup(
        self,
        wanted: list[tuple[str, str]],
        names_fit: Callable[[RollRecord], bool] | None = None,
    ) -> list[RollRecord]:
        found: dict[int, RollRecord] = {}
        for key in wanted:
            for record in self._keys.get(key, ()):
                if key[0] in _FITTED and names_fit is not None and not names_fit(record):
                    continue
                found.setdefault(id(record), record)
        return list(found.values())


def _rows(path: Path, fill_org: bool) -> Iterator[tuple[RollParser, list[str], int]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None) or []
        names = [h.strip().lower() for h in header]
        pad = fill_org and "org_code" not in names
        parser = RollParser([*header, "org_code"] if pad else header, _Anything())
        # A records file's org_code is unused (DESIGN §5): absent or empty, it is filled.
        org = names.index("org_code") if fill_org and not pad else None
        for row in reader:
            if not any(row):
                continue
            if pad:
                row = [*row, "-"]
            elif org is not None and org < len(row) and not row[org].strip():
                row[org] = "-"
            yield parser, row, reader.line_num


def _record(v: dict[str, Any]) -> RollRecord:
    return RollRecord(
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
        address=v["address"],
        sex=v["sex"],
        valid_from=v["valid_from"],
        valid_to=v["valid_to"],
    )


def load_roll(path: Path) -> tuple[RollIndex, list[RowIssue]]:
    """The roll file in memory (raises ``ColumnsError`` when required columns lack)."""
    index, issues = RollIndex(), []
    for parser, row, line in _rows(path, fill_org=False):
        parsed = parser.parse(row, line)
        issues += parsed.issues
        if parsed.values is not None:
            index.add(_record(parsed.values))
    return index, issues


def best_decision(decisions: list[MatchDecision]) -> MatchDecision | None:
    """The strongest decision across organisations: a match over a review over a
    no-match, then the higher score."""
    if not decisions:
        return None
    return max(decisions, key=lambda d: (_RANK[d.decision], d.score))


def read_records(path: Path) -> Iterator[tuple[str, ChildV1] | RowIssue]:
    """A records file (the roll's columns, ``org_code`` unused) as (record id, child),
    and its problems with their lines, in file order."""
    for parser, row, line in _rows(path, fill_org=True):
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
                sex=v["sex"],
                nhs_number=v["nhs_number"],
                upn=v["upn"],
                postcode=v["postcode"],
                address=v["address"],
            )
        except ValidationError:
            yield RowIssue(line, "(row)", "not a valid child record", skipped=True)
            continue
        yield v["record_id"], child


def link(
    index: RollIndex, records: Path, on: date, model: MatchingModel = BASELINE
) -> Iterator[dict[str, Any] | RowIssue]:
    """One decision row per record (:data:`DECISION_COLUMNS`; the best decision across
    organisations, ``no-match`` with empty roll record and organisation), and the
    records' problems, in file order. ``score`` is the match weight in bits; for a
    ``no-match`` it is the best candidate's, empty when blocking found none."""
    for item in read_records(records):
        if isinstance(item, RowIssue):
            yield item
            continue
        record_id, child = item
        best = best_decision(match_child(child, index.candidates(child), on, model))
        if best is None or best.decision == "no-match":
            yield {
                "record_id": record_id,
                "decision": "no-match",
                "roll_record_id": "",
                "org_code": "",
                "score": f"{best.score:.2f}" if best else "",
            }
        else:
            yield {
                "record_id": record_id,
                "decision": best.decision,
                "roll_record_id": best.roll_record_id,
                "org_code": best.org_code,
                "score": f"{best.score:.2f}",
            }

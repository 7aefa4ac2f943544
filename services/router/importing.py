"""Streaming directory imports (DESIGN §5): read a CSV file row by row, validate each row
(directory.py), write in batches. One transaction per file, so a re-imported roll
replaces the organisation's old roll atomically, and a failed import changes nothing."""

from __future__ import annotations

import asyncio
import csv
import io
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from services.router import repository
from services.router.directory import (
    ORGANISATION_OPTIONAL,
    ORGANISATION_REQUIRED,
    ROLL_COLUMNS,
    RollParser,
    RowIssue,
    column_index,
    parse_organisation,
)
from services.runtime.database import Database

BATCH_SIZE = 5_000
MAX_ISSUES_KEPT = 10_000  # a file of millions of bad rows must not fill memory

Progress = Callable[[int], None]  # called with the bytes read so far


@dataclass
class ImportSummary:
    kind: str
    path: str
    imported: int = 0
    skipped: int = 0
    per_organisation: Counter[str] = field(default_factory=Counter)
    replaced: dict[str, int] = field(default_factory=dict)  # org -> old rows removed
    issues: list[RowIssue] = field(default_factory=list)
    issue_count: int = 0
    ignored_columns: list[str] = field(default_factory=list)

    def add_issues(self, issues: list[RowIssue]) -> None:
        self.issue_count += len(issues)
        room = MAX_ISSUES_KEPT - len(self.issues)
        if room > 0:
            self.issues.extend(issues[:room])

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "imported": self.imported,
            "skipped": self.skipped,
            "per_organisation": dict(sorted(self.per_organisation.items())),
            "replaced": self.replaced,
            "issue_count": self.issue_count,
            "issues": [
                {"line": i.line, "column": i.column, "message": i.message, "skipped": i.skipped}
                for i in self.issues
            ],
            "ignored_columns": self.ignored_columns,
        }


class _CountingReader(io.RawIOBase):
    """Counts bytes as the CSV reader pulls them, for a byte-based progress bar."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


@contextmanager
def _open_csv(path: Path) -> Iterator[tuple[Any, _CountingReader]]:
    """A csv reader over ``path`` (UTF-8, BOM tolerated) and its byte counter."""
    with path.open("rb") as raw:
        counting = _CountingReader(raw)
        text = io.TextIOWrapper(
            io.BufferedReader(counting, 1 << 16), encoding="utf-8-sig", newline=""
        )
        try:
            yield csv.reader(text), counting
        finally:
            text.close()  # closes the counter, not ``raw``; the with block closes that


def _header(
    reader: Any, required: tuple[str, ...], optional: tuple[str, ...], summary: ImportSummary
) -> dict[str, int]:
    header = next(reader, None) or []
    index = column_index(header, required, optional)  # raises ColumnsError: nothing written
    summary.ignored_columns = _ignored(header, (*required, *optional))
    return index


def _ignored(header: list[str], known: tuple[str, ...]) -> list[str]:
    return [h.strip() for h in header if h.strip() and h.strip().lower() not in known]


async def import_organisations(
    db: Database, path: Path, progress: Progress | None = None
) -> ImportSummary:
    summary = ImportSummary("organisations", str(path))
    with _open_csv(path) as (reader, counted):
        index = _header(reader, ORGANISATION_REQUIRED, ORGANISATION_OPTIONAL, summary)
        async with db.transaction() as session:
            batch: dict[str, dict[str, Any]] = {}
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                parsed = parse_organisation(row, index, reader.line_num)
                summary.add_issues(parsed.issues)
                if parsed.values is None:
                    summary.skipped += 1
                    continue
                batch[parsed.values["code"]] = parsed.values  # a later row wins
                if len(batch) >= BATCH_SIZE:
                    await repository.upsert_organisations(session, list(batch.values()))
                    batch.clear()
                    if progress:
                        progress(counted.count)
                summary.imported += 1
                summary.per_organisation[parsed.values["kind"]] += 1
            await repository.upsert_organisations(session, list(batch.values()))
    if progress:
        progress(counted.count)
    return summary


async def import_roll(db: Database, path: Path, progress: Progress | None = None) -> ImportSummary:
    """Import a roll file. Each organisation in the file has its old roll removed, in
    the same transaction, before its first new rows go in.

    Parsing runs in a worker thread while the previous batch is being written, so the
    import goes at the speed of the slower of the two rather than their sum.
    """
    summary = ImportSummary("roll", str(path))
    with _open_csv(path) as (reader, counted):
        header = next(reader, None) or []
        async with db.transaction() as session:
            parser = RollParser(header, await repository.organisation_codes(session))
            summary.ignored_columns = _ignored(header, ROLL_COLUMNS)
            batches = _roll_batches(reader, parser, summary)
            writing: asyncio.Task[None] | None = None
            while True:
                batch = await asyncio.to_thread(next, batches, None)
                if writing is not None:
                    await writing  # one statement at a time on the session
                if batch is None:
                    break
                for org in dict.fromkeys(row["org_code"] for row in batch):
                    if org not in summary.replaced:
                        summary.replaced[org] = await repository.delete_roll(session, org)
                writing = asyncio.create_task(repository.insert_roll(session, batch))
                if progress:
                    progress(counted.count)
    if progress:
        progress(counted.count)
    return summary


def _roll_batches(
    reader: Any, parser: RollParser, summary: ImportSummary
) -> Iterator[list[dict[str, Any]]]:
    """Parsed rows in batches; problems and counts go to ``summary`` on the way."""
    seen: set[tuple[str, str]] = set()
    batch: list[dict[str, Any]] = []
    for row in reader:
        if not any(row):
            continue
        line = reader.line_num
        parsed = parser.parse(row, line)
        values = parsed.values
        if values is not None:
            key = (values["org_code"], values["record_id"])
            if key in seen:
                parsed.issues.append(
                    RowIssue(
                        line, "record_id", f"appears earlier in the file for {key[0]}", skipped=True
                    )
                )
                values = None
            else:
                seen.add(key)
        if parsed.issues:
            summary.add_issues(parsed.issues)
        if values is None:
            summary.skipped += 1
            continue
        batch.append(values)
        summary.imported += 1
        summary.per_organisation[values["org_code"]] += 1
        if len(batch) >= BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch

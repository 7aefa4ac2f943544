"""Streaming directory imports (DESIGN §5): read a CSV file row by row, validate each row
(directory.py), write in batches. One transaction per file, so a re-imported roll
replaces the organisation's old roll atomically, and a failed import changes nothing."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.router import (
    directory_cache,
    frequency_store,
    gp_coverage_store,
    repository,
    roll_load,
)
from services.router.directory import (
    ORGANISATION_OPTIONAL,
    ORGANISATION_REQUIRED,
    ROLL_COLUMNS,
    ROLL_OPTIONAL,
    ROLL_REQUIRED,
    ColumnsError,
    FileRefusedError,
    RowIssue,
    column_index,
    parse_organisation,
)
from services.router.roll_parsing import (
    MAX_ISSUES_KEPT,
    Chunk,
    Chunks,
    Job,
    Part,
    ProcessChunks,
    ThreadChunks,
    open_csv,
    size_and_header,
    split_parts,
)
from services.runtime.database import Database, utcnow

log = logging.getLogger(__name__)

BATCH_SIZE = 5_000  # organisations per upsert
# A file this large is parsed in worker processes (see parser_count), smaller ones in a
# thread (starting a process costs about half a second).
PROCESS_MIN_BYTES = 4 << 20
# A file of at least this many rows that is at least half the size of the roll drops
# and rebuilds the lookup indexes; a smaller one updates them row by row.
BULK_MIN_ROWS = 20_000
_BYTES_PER_ROW_GUESS = 90  # a typical roll row, to guess a file's rows from its size
MAX_PARSERS = 4  # more would outrun one database writer
PART_MIN_BYTES = 16 << 20  # a part smaller than this is not worth a process

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
    # Organisations: why, after the import, an episode could have no responsible local
    # authority (services.router.coverage); the import goes ahead, loudly warned.
    authority_gaps: list[str] = field(default_factory=list)

    def merge(self, chunk: Chunk) -> None:
        self.imported += len(chunk.rows)
        self.skipped += chunk.skipped
        self.per_organisation.update(chunk.per_organisation)
        self.issue_count += chunk.issue_count
        room = MAX_ISSUES_KEPT - len(self.issues)
        if room > 0:
            self.issues.extend(chunk.issues[:room])

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
            **({"authority_gaps": self.authority_gaps} if self.kind == "organisations" else {}),
        }


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
    with open_csv(path) as (reader, counted):
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
    the same transaction, before its first new rows go in: readers see the old roll or
    the new one, never half of either, and a failed import changes nothing.

    Reading and parsing (CSV, validation, phonetic blocking keys) runs in worker
    processes for a large file (each parses its own part of the file, one per core) and
    in a thread for a small one, while earlier batches are being written: the import goes
    at the speed of the slower side rather than their sum, with at most a few batches in
    memory whatever the file's size. How the rows are written, and a roll replaced,
    is :mod:`services.router.roll_load`'s business.

    A record id that appears twice in one organisation is skipped with an issue naming
    its line. Parts parsed apart cannot see each other's ids: if the database refuses a
    pair that met across parts, the import is rolled back and done again with one
    parser, which reports it like any other.
    """
    [summary] = await import_rolls(db, [path], progress)
    return summary


@dataclass(frozen=True)
class _File:
    path: Path
    header: list[str]
    size: int
    parts: list[Part] | None  # None: parse in a thread

    def one_parser(self) -> _File:
        return _File(self.path, self.header, self.size, [Part(0, self.size, 0)])


async def import_rolls(
    db: Database, paths: Sequence[Path], progress: Progress | None = None
) -> list[ImportSummary]:
    """Import several roll files as one (:func:`import_roll`): one transaction, so all
    of them or none, and one rebuild of the lookup indexes rather than one per file.
    ``progress`` gets the bytes read across all the files. Every file's columns are
    checked before anything changes."""
    files = []
    for path in paths:
        size, header = await asyncio.to_thread(size_and_header, path)
        try:
            column_index(header, ROLL_REQUIRED, ROLL_OPTIONAL)  # nothing changes
        except ColumnsError as exc:
            raise ColumnsError(f"{path.name}: {exc}" if len(paths) > 1 else str(exc)) from exc
        parts = None
        if size >= PROCESS_MIN_BYTES:
            parts = await asyncio.to_thread(split_parts, path, size, parser_count(size))
        files.append(_File(path, header, size, parts))
    try:
        return await _import_files(db, files, progress)
    except roll_load.RepeatedRecordError:
        if len(files) > 1 and (repeat := await asyncio.to_thread(_repeat_across_files, paths)):
            raise FileRefusedError(repeat) from None
        if all(f.parts is None or len(f.parts) == 1 for f in files):
            raise
    log.info("roll import: a record id repeats across parts; importing with one parser")
    return await _import_files(
        db, [f if f.parts is None else f.one_parser() for f in files], progress
    )


def _repeat_across_files(paths: Sequence[Path]) -> str | None:
    """The first record id that two of the files both give for one organisation (a
    repeat within one file is the parser's to report), as a message naming both lines.
    Only the records of organisations in more than one file are held in memory."""
    files_of: dict[str, set[int]] = {}
    for n, path in enumerate(paths):
        for org, _record, _line in _org_records(path):
            files_of.setdefault(org, set()).add(n)
    shared = {org for org, files in files_of.items() if len(files) > 1}
    first: dict[tuple[str, str], tuple[int, int]] = {}
    for n, path in enumerate(paths):
        for org, record, line in _org_records(path):
            if org not in shared:
                continue
            earlier = first.setdefault((org, record), (n, line))
            if earlier[0] != n:
                return (
                    f"{org} record {record} is in {paths[earlier[0]].name} (line {earlier[1]}) "
                    f"and in {path.name} (line {line}): give each record in one file only"
                )
    return None


def _org_records(path: Path) -> Iterator[tuple[str, str, int]]:
    with open_csv(path) as (reader, _counted):
        index = column_index(next(reader, []), ROLL_REQUIRED, ROLL_OPTIONAL)
        org_at, record_at = index["org_code"], index["record_id"]
        for row in reader:
            if len(row) > max(org_at, record_at):
                yield row[org_at].strip().upper(), row[record_at].strip(), reader.line_num


def parser_count(size: int) -> int:
    """Worker processes for a file of ``size`` bytes: one per core (the database writer
    shares them), at most :data:`MAX_PARSERS`, each with :data:`PART_MIN_BYTES` at least."""
    return max(1, min(MAX_PARSERS, os.cpu_count() or 1, size // PART_MIN_BYTES))


async def _import_files(
    db: Database, files: Sequence[_File], progress: Progress | None
) -> list[ImportSummary]:
    total = sum(f.size for f in files)
    summaries = [ImportSummary("roll", str(f.path)) for f in files]
    for file, summary in zip(files, summaries, strict=True):
        summary.ignored_columns = _ignored(file.header, ROLL_COLUMNS)
    jobs = [
        Job(n, file.path, file.header, part)
        for n, file in enumerate(files)
        for part in (file.parts or (None,))
    ]
    async with db.transaction() as session:
        known = await repository.organisation_codes(session)
        iso = (await session.connection()).dialect.name == "sqlite"
        rows_guess = total // _BYTES_PER_ROW_GUESS
        bulk = rows_guess >= BULK_MIN_ROWS and await roll_load.roll_rows_below(
            session, 2 * rows_guess
        )
        load = await roll_load.start_load(session, bulk)
        await _load_jobs(jobs, known, iso, load, summaries, progress)
        replaced = await load.finish()
        # The roll's name frequencies and GP coverage changed with it: the router's
        # matching reads them again (directory_cache), by the same version as the
        # organisations.
        live = await frequency_store.recompute(session, utcnow())
        coverage = await gp_coverage_store.recompute(session, utcnow())
        await directory_cache.bump(session)
    log.info(
        "roll import: name frequencies over %d roll rows: %s",
        live.rows,
        ", ".join(f"{n} {f}s" for f, n in live.names().items()),
    )
    log.info("roll import: %s", coverage.describe())
    for summary in summaries:
        summary.replaced = {
            org: replaced[org] for org in summary.per_organisation if org in replaced
        }
        summary.issues.sort(key=lambda issue: issue.line)
    if progress:
        progress(total)
    return summaries


async def _load_jobs(
    jobs: list[Job],
    known: set[str],
    iso: bool,
    load: roll_load.RollLoad,
    summaries: list[ImportSummary],
    progress: Progress | None,
) -> None:
    """Parse every job into ``load``: the parts of the large files by one set of worker
    processes (each takes the next part when it finishes one, whichever file it is
    from), then the small files in a thread. An organisation's old roll goes before its
    first new rows (once, whichever file they come from). Each batch is written while
    the next one is parsed."""
    in_processes = [(n, job) for n, job in enumerate(jobs) if job.part is not None]
    sources: list[Callable[[], Chunks]] = []
    if in_processes:
        workers = min(
            len(in_processes), parser_count(sum(j.part.size for _, j in in_processes if j.part))
        )
        sources.append(lambda: ProcessChunks(in_processes, known, iso, workers))
    sources += [
        functools.partial(ThreadChunks, job, n, known, iso)
        for n, job in enumerate(jobs)
        if job.part is None
    ]
    read = [0] * len(jobs)
    replacing: set[str] = set()
    writing: asyncio.Task[None] | None = None
    try:
        for source in sources:
            chunks = source()
            try:
                while (chunk := await chunks.next()) is not None:
                    if writing is not None:
                        await writing  # one statement at a time on the session
                    summaries[jobs[chunk.job].file].merge(chunk)
                    for org in sorted(chunk.per_organisation.keys() - replacing):
                        replacing.add(org)
                        await load.replace(org)
                    writing = asyncio.create_task(load.insert(chunk.rows))
                    read[chunk.job] = chunk.bytes_read
                    if progress:
                        progress(sum(read))
            finally:
                chunks.close()
        if writing is not None:
            await writing
    finally:
        if writing is not None and not writing.done():
            writing.cancel()

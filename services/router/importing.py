"""Streaming directory imports (DESIGN §5): read a CSV file row by row, validate each row
(directory.py), write in batches. One transaction per file, so a re-imported roll
replaces the organisation's old roll atomically, and a failed import changes nothing."""

from __future__ import annotations

import asyncio
import csv
import io
import multiprocessing
import queue
from collections import Counter
from collections.abc import Callable, Container, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import text

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
QUEUED_BATCHES = 4  # parsed batches waiting for the database: bounds the memory
# A file this large is parsed in a worker process (on its own core), smaller ones in a
# thread (starting a process costs about half a second).
PROCESS_MIN_BYTES = 4 << 20
# A file of at least this many rows that is at least half the size of the roll drops
# and rebuilds the lookup indexes; a smaller one updates them row by row.
BULK_MIN_ROWS = 20_000
_BYTES_PER_ROW_GUESS = 90  # a typical roll row, to guess a file's rows from its size
_SQLITE_BULK_CACHE_KIB = 256 * 1024
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

    def merge(self, chunk: _Chunk) -> None:
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
    the same transaction, before its first new rows go in: readers see the old roll or
    the new one, never half of either, and a failed import changes nothing.

    Reading and parsing (CSV, validation, phonetic blocking keys) runs in a separate
    process for a large file, and in a thread for a small one, while the previous batch
    is being written: the import goes at the speed of the slower of the two rather than
    their sum, with at most a few batches in memory whatever the file's size. A file that
    rewrites most of the roll drops the lookup indexes and builds them again at the end,
    in the same transaction (repository.drop_roll_indexes).
    """
    summary = ImportSummary("roll", str(path))
    size, header = await asyncio.to_thread(_size_and_header, path)
    async with db.transaction() as session:
        known = await repository.organisation_codes(session)
        RollParser(header, ())  # a file lacking columns is refused before any change
        summary.ignored_columns = _ignored(header, ROLL_COLUMNS)
        iso = (await session.connection()).dialect.name == "sqlite"
        rebuild: list[Any] = []
        rows_guess = size // _BYTES_PER_ROW_GUESS
        if rows_guess >= BULK_MIN_ROWS and await repository.roll_rows_below(
            session, 2 * rows_guess
        ):
            rebuild = await repository.drop_roll_indexes(session)
            if iso:  # room for the index builds' sorts; given back below
                await session.execute(text(f"PRAGMA cache_size = -{_SQLITE_BULK_CACHE_KIB}"))
        chunks = _ProcessChunks(path, known, iso) if size >= PROCESS_MIN_BYTES else None
        thread_chunks = None if chunks else _roll_chunks(path, known, iso)
        try:
            writing: asyncio.Task[None] | None = None
            while True:
                if chunks is not None:
                    chunk = await chunks.next()
                else:
                    assert thread_chunks is not None
                    chunk = await asyncio.to_thread(next, thread_chunks, None)
                if writing is not None:
                    await writing  # one statement at a time on the session
                if chunk is None:
                    break
                summary.merge(chunk)
                for org in chunk.new_orgs:
                    summary.replaced[org] = await repository.delete_roll(session, org)
                writing = asyncio.create_task(repository.insert_roll(session, chunk.rows))
                if progress:
                    progress(chunk.bytes_read)
        finally:
            if chunks is not None:
                chunks.close()
            if writing is not None and not writing.done():
                writing.cancel()
        await repository.create_roll_indexes(session, rebuild)
        if rebuild and iso:
            await session.execute(text("PRAGMA cache_size = -2000"))  # SQLite's default
    if progress:
        progress(size)
    return summary


def _size_and_header(path: Path) -> tuple[int, list[str]]:
    with _open_csv(path) as (reader, _counted):
        return path.stat().st_size, next(reader, None) or []


@dataclass
class _Chunk:
    """One batch of parsed rows, with what the summary needs to know about them."""

    rows: list[tuple[Any, ...]]
    new_orgs: list[str]  # organisations first met in this batch: their old roll goes now
    issues: list[RowIssue]
    issue_count: int
    skipped: int
    per_organisation: Counter[str]
    bytes_read: int


def _roll_chunks(path: Path, known: Container[str], iso: bool) -> Iterator[_Chunk]:
    """Parsed rows of ``path`` in batches of tuples ready for ``insert_roll`` (dates as
    ISO text when ``iso``); problems and counts ride along with each batch."""
    seen: set[tuple[str, str]] = set()
    orgs: set[str] = set()
    with _open_csv(path) as (reader, counted):
        parser = RollParser(next(reader, []), known)
        chunk = _Chunk([], [], [], 0, 0, Counter(), 0)
        for row in reader:
            if not any(row):
                continue
            line = reader.line_num
            values, issues = parser.parse_values(row, line)
            if values is not None:
                key = (values[0], values[1])  # org_code, record_id
                if key in seen:
                    issues.append(
                        RowIssue(
                            line,
                            "record_id",
                            f"appears earlier in the file for {key[0]}",
                            skipped=True,
                        )
                    )
                    values = None
                else:
                    seen.add(key)
            if issues:
                chunk.issue_count += len(issues)
                if len(chunk.issues) < MAX_ISSUES_KEPT:
                    chunk.issues.extend(issues)
            if values is None:
                chunk.skipped += 1
                continue
            org = values[0]
            if org not in orgs:
                orgs.add(org)
                chunk.new_orgs.append(org)
            chunk.per_organisation[org] += 1
            chunk.rows.append(repository.iso_dates(values) if iso else values)
            if len(chunk.rows) >= BATCH_SIZE:
                chunk.bytes_read = counted.count
                yield chunk
                chunk = _Chunk([], [], [], 0, 0, Counter(), 0)
        chunk.bytes_read = counted.count
        yield chunk


def _parse_in_process(path: Path, known: frozenset[str], iso: bool, queue: Any) -> None:
    """The worker process: every chunk onto ``queue``, then ``None``; an error is sent
    as itself so the importer raises it (and rolls back)."""
    try:
        for chunk in _roll_chunks(path, known, iso):
            queue.put(chunk)
        queue.put(None)
    except BaseException as exc:
        queue.put(exc)


class _ProcessChunks:
    """Chunks parsed by a worker process. The queue holds a few batches at most, so
    memory stays bounded when the database is the slower side."""

    def __init__(self, path: Path, known: set[str], iso: bool) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a threaded process
        self._queue = context.Queue(maxsize=QUEUED_BATCHES)
        self._process = context.Process(
            target=_parse_in_process,
            args=(path, frozenset(known), iso, self._queue),
            daemon=True,
        )
        self._process.start()
        self._done = False

    def _get(self) -> _Chunk | BaseException | None:
        while True:
            try:
                return self._queue.get(timeout=1)  # type: ignore[no-any-return]
            except queue.Empty:
                if not self._process.is_alive():
                    return RuntimeError(
                        f"the roll parser stopped unexpectedly (exit {self._process.exitcode})"
                    )

    async def next(self) -> _Chunk | None:
        if self._done:
            return None
        got = await asyncio.to_thread(self._get)
        if isinstance(got, BaseException):
            self._done = True
            raise got
        if got is None:
            self._done = True
        return got

    def close(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(timeout=10)
        self._queue.close()

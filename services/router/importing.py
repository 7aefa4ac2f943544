"""Streaming directory imports (DESIGN §5): read a CSV file row by row, validate each row
(directory.py), write in batches. One transaction per file, so a re-imported roll
replaces the organisation's old roll atomically, and a failed import changes nothing."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import multiprocessing
import os
import queue
from collections import Counter
from collections.abc import Callable, Container, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from services.router import repository, roll_load
from services.router.directory import (
    ORGANISATION_OPTIONAL,
    ORGANISATION_REQUIRED,
    ROLL_COLUMNS,
    ROLL_OPTIONAL,
    ROLL_REQUIRED,
    ColumnsError,
    RollParser,
    RowIssue,
    column_index,
    parse_organisation,
)
from services.runtime.database import Database

log = logging.getLogger(__name__)

BATCH_SIZE = 5_000
QUEUED_BATCHES = 4  # parsed batches waiting for the database: bounds the memory
# A file this large is parsed in worker processes (see parser_count), smaller ones in a
# thread (starting a process costs about half a second).
PROCESS_MIN_BYTES = 4 << 20
# A file of at least this many rows that is at least half the size of the roll drops
# and rebuilds the lookup indexes; a smaller one updates them row by row.
BULK_MIN_ROWS = 20_000
_BYTES_PER_ROW_GUESS = 90  # a typical roll row, to guess a file's rows from its size
MAX_PARSERS = 4  # more would outrun one database writer
PART_MIN_BYTES = 16 << 20  # a part smaller than this is not worth a process
_SPLIT_BLOCK = 4 << 20
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
    """Counts bytes as the CSV reader pulls them, for a byte-based progress bar, and
    stops after ``limit`` bytes (the end of a part)."""

    def __init__(self, raw: BinaryIO, limit: int | None = None) -> None:
        self._raw = raw
        self._limit = limit
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = len(buffer) if self._limit is None else min(len(buffer), self._limit - self.count)
        data = self._raw.read(want) if want > 0 else b""
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


@contextmanager
def _open_csv(path: Path, part: _Part | None = None) -> Iterator[tuple[Any, _CountingReader]]:
    """A csv reader over ``path`` or one ``part`` of it (UTF-8, BOM tolerated at the
    start) and its byte counter."""
    with path.open("rb") as raw:
        if part is not None:
            raw.seek(part.start)
        counting = _CountingReader(raw, None if part is None else part.end - part.start)
        encoding = "utf-8-sig" if part is None or part.start == 0 else "utf-8"
        text = io.TextIOWrapper(io.BufferedReader(counting, 1 << 16), encoding=encoding, newline="")
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
    parts: list[_Part] | None  # None: parse in a thread

    def one_parser(self) -> _File:
        return _File(self.path, self.header, self.size, [_Part(0, self.size, 0)])


async def import_rolls(
    db: Database, paths: Sequence[Path], progress: Progress | None = None
) -> list[ImportSummary]:
    """Import several roll files as one (:func:`import_roll`): one transaction, so all
    of them or none, and one rebuild of the lookup indexes rather than one per file.
    ``progress`` gets the bytes read across all the files. Every file's columns are
    checked before anything changes."""
    files = []
    for path in paths:
        size, header = await asyncio.to_thread(_size_and_header, path)
        try:
            column_index(header, ROLL_REQUIRED, ROLL_OPTIONAL)  # nothing changes
        except ColumnsError as exc:
            raise ColumnsError(f"{path.name}: {exc}" if len(paths) > 1 else str(exc)) from exc
        parts = None
        if size >= PROCESS_MIN_BYTES:
            parts = await asyncio.to_thread(_split, path, size, parser_count(size))
        files.append(_File(path, header, size, parts))
    try:
        return await _import_files(db, files, progress)
    except roll_load.RepeatedRecord:
        if all(f.parts is None or len(f.parts) == 1 for f in files):
            raise
    log.info("roll import: a record id repeats across parts; importing with one parser")
    return await _import_files(
        db, [f if f.parts is None else f.one_parser() for f in files], progress
    )


def parser_count(size: int) -> int:
    """Worker processes for a file of ``size`` bytes: one per core (the database writer
    shares them), at most :data:`MAX_PARSERS`, each with :data:`PART_MIN_BYTES` at least."""
    return max(1, min(MAX_PARSERS, os.cpu_count() or 1, size // PART_MIN_BYTES))


async def _import_files(
    db: Database, files: Sequence[_File], progress: Progress | None
) -> list[ImportSummary]:
    total = sum(f.size for f in files)
    summaries: list[ImportSummary] = []
    async with db.transaction() as session:
        known = await repository.organisation_codes(session)
        iso = (await session.connection()).dialect.name == "sqlite"
        rows_guess = total // _BYTES_PER_ROW_GUESS
        bulk = rows_guess >= BULK_MIN_ROWS and await roll_load.roll_rows_below(
            session, 2 * rows_guess
        )
        load = await roll_load.start_load(session, bulk)
        replacing: set[str] = set()
        done_before = 0
        for file in files:
            summary = ImportSummary("roll", str(file.path))
            summary.ignored_columns = _ignored(file.header, ROLL_COLUMNS)
            await _load_file(file, known, iso, load, replacing, summary, done_before, progress)
            summaries.append(summary)
            done_before += file.size
        replaced = await load.finish()
    for summary in summaries:
        summary.replaced = {
            org: replaced[org] for org in summary.per_organisation if org in replaced
        }
        summary.issues.sort(key=lambda issue: issue.line)
    if progress:
        progress(total)
    return summaries


async def _load_file(
    file: _File,
    known: set[str],
    iso: bool,
    load: roll_load.RollLoad,
    replacing: set[str],
    summary: ImportSummary,
    done_before: int,
    progress: Progress | None,
) -> None:
    """Parse one file into ``load``; an organisation's old roll goes before its first
    new rows (once, whichever file they come from)."""
    chunks: _Chunks
    if file.parts is None:
        chunks = _ThreadChunks(file.path, known, iso)
    else:
        chunks = _ProcessChunks(file.path, file.header, file.parts, known, iso)
    read_per_part: dict[int, int] = {}
    writing: asyncio.Task[None] | None = None
    try:
        while True:
            chunk = await chunks.next()
            if writing is not None:
                await writing  # one statement at a time on the session
            if chunk is None:
                break
            summary.merge(chunk)
            for org in sorted(chunk.per_organisation.keys() - replacing):
                replacing.add(org)
                await load.replace(org)
            writing = asyncio.create_task(load.insert(chunk.rows))
            read_per_part[chunk.part] = chunk.bytes_read
            if progress:
                progress(done_before + sum(read_per_part.values()))
    finally:
        chunks.close()
        if writing is not None and not writing.done():
            writing.cancel()


def _size_and_header(path: Path) -> tuple[int, list[str]]:
    with _open_csv(path) as (reader, _counted):
        return path.stat().st_size, next(reader, None) or []


@dataclass(frozen=True)
class _Part:
    """A byte range of a roll file that one parser reads: ``start`` is 0 (the header
    comes first) or the start of a row; ``lines_before`` gives its rows' line numbers."""

    start: int
    end: int
    lines_before: int


def _split(path: Path, size: int, count: int) -> list[_Part]:
    """``count`` parts of about the same size, each cut after a row: at a line feed
    with an even number of quote characters before it, so not inside a quoted value.
    Reads the file once, a block at a time. A file whose lines end in a lone carriage
    return is not split (its line numbers would not follow)."""
    targets = [size * n // count for n in range(1, count)]
    parts = [_Part(0, size, 0)]
    quotes = lines = offset = 0
    with path.open("rb") as raw:
        while targets and (block := raw.read(_SPLIT_BLOCK)):
            if offset == 0 and b"\r" in block and b"\r\n" not in block:
                return parts
            floor = 0  # in this block: after the last cut
            while targets and offset + len(block) > targets[0]:
                at = max(targets[0] - offset, floor)
                parity = (quotes + block.count(b'"', 0, at)) % 2
                cut = block.find(b"\n", at)
                while cut != -1:
                    parity = (parity + block.count(b'"', at, cut)) % 2
                    if not parity:
                        break
                    at, cut = cut, block.find(b"\n", cut + 1)
                if cut == -1:  # no row ends in the rest of this block: look in the next
                    targets[0] = offset + len(block)
                    break
                targets.pop(0)
                floor = cut + 1
                start = offset + cut + 1
                if start < size:
                    last = parts.pop()
                    before = lines + block.count(b"\n", 0, cut + 1)
                    parts += [
                        _Part(last.start, start, last.lines_before),
                        _Part(start, size, before),
                    ]
            quotes += block.count(b'"')
            lines += block.count(b"\n")
            offset += len(block)
    return parts


@dataclass
class _Chunk:
    """One batch of parsed rows, with what the summary needs to know about them."""

    part: int
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    issues: list[RowIssue] = field(default_factory=list)
    issue_count: int = 0
    skipped: int = 0
    per_organisation: Counter[str] = field(default_factory=Counter)
    bytes_read: int = 0  # of the chunk's part, so far

    def count_organisations(self) -> None:
        self.per_organisation.update(row[0] for row in self.rows)


def _roll_chunks(
    path: Path,
    known: Container[str],
    iso: bool,
    part: _Part | None = None,
    index: int = 0,
    header: list[str] | None = None,
) -> Iterator[_Chunk]:
    """Parsed rows of ``path`` (or of one ``part`` of it) in batches of tuples ready for
    ``insert_roll`` (dates as ISO text when ``iso``); problems and counts ride along."""
    seen: dict[str, set[str]] = {}  # record ids met so far, per organisation
    with _open_csv(path, part) as (reader, counted):
        if part is None or part.start == 0:
            header = next(reader, [])
        assert header is not None
        parser = RollParser(header, known, iso_dates=iso)
        lines_before = part.lines_before if part else 0
        chunk = _Chunk(index)
        for row in reader:
            if not any(row):
                continue
            line = reader.line_num + lines_before
            values, issues = parser.parse_values(row, line)
            if values is not None:
                records = seen.get(values[0])
                if records is None:
                    records = seen[values[0]] = set()
                before = len(records)
                records.add(values[1])
                if len(records) == before:
                    issues.append(
                        RowIssue(
                            line,
                            "record_id",
                            f"appears earlier in the file for {values[0]}",
                            skipped=True,
                        )
                    )
                    values = None
            if issues:
                chunk.issue_count += len(issues)
                if len(chunk.issues) < MAX_ISSUES_KEPT:
                    chunk.issues.extend(issues)
            if values is None:
                chunk.skipped += 1
                continue
            chunk.rows.append(values)
            if len(chunk.rows) >= BATCH_SIZE:
                chunk.count_organisations()
                chunk.bytes_read = counted.count
                yield chunk
                chunk = _Chunk(index)
        chunk.count_organisations()
        chunk.bytes_read = counted.count
        yield chunk


class _Chunks(Protocol):
    async def next(self) -> _Chunk | None: ...

    def close(self) -> None: ...


class _ThreadChunks:
    """Chunks parsed in a thread (a small file: a process costs about half a second)."""

    def __init__(self, path: Path, known: Container[str], iso: bool) -> None:
        self._chunks = _roll_chunks(path, known, iso)

    async def next(self) -> _Chunk | None:
        return await asyncio.to_thread(next, self._chunks, None)

    def close(self) -> None:
        self._chunks.close()


def _parse_in_process(
    path: Path,
    header: list[str],
    part: _Part,
    index: int,
    known: frozenset[str],
    iso: bool,
    queue: Any,
) -> None:
    """A worker process: every chunk of its part onto ``queue``, then ``index`` alone
    (done); an error is sent as itself so the importer raises it (and rolls back)."""
    try:
        for chunk in _roll_chunks(path, known, iso, part, index, header):
            queue.put(chunk)
        queue.put(index)
    except BaseException as exc:
        queue.put(exc)


class _ProcessChunks:
    """Chunks parsed by worker processes, one per part, in whatever order they come.
    The shared queue holds a few batches at most, so memory stays bounded when the
    database is the slower side."""

    def __init__(
        self, path: Path, header: list[str], parts: list[_Part], known: set[str], iso: bool
    ) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a threaded process
        self._queue = context.Queue(maxsize=QUEUED_BATCHES * len(parts))
        self._processes = [
            context.Process(
                target=_parse_in_process,
                args=(path, header, part, n, frozenset(known), iso, self._queue),
                daemon=True,
            )
            for n, part in enumerate(parts)
        ]
        for process in self._processes:
            process.start()
        self._running = set(range(len(parts)))

    def _get(self) -> _Chunk | BaseException | int:
        while True:
            try:
                return self._queue.get(timeout=1)  # type: ignore[no-any-return]
            except queue.Empty:
                for n in self._running:
                    if not self._processes[n].is_alive():
                        code = self._processes[n].exitcode
                        return RuntimeError(f"a roll parser stopped unexpectedly (exit {code})")

    async def next(self) -> _Chunk | None:
        while self._running:
            got = await asyncio.to_thread(self._get)
            if isinstance(got, BaseException):
                self._running.clear()
                raise got
            if isinstance(got, int):
                self._running.discard(got)
                continue
            return got
        return None

    def close(self) -> None:
        for process in self._processes:
            if process.is_alive():
                process.terminate()
        for process in self._processes:
            process.join(timeout=10)
        self._queue.close()

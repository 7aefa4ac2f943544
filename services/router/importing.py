"""Streaming directory imports (DESIGN §5): read a CSV file row by row, validate each row
(directory.py), write in batches. One transaction per file, so a re-imported roll
replaces the organisation's old roll atomically, and a failed import changes nothing."""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import logging
import multiprocessing
import os
import queue
import sys
from collections import Counter
from collections.abc import Callable, Container, Generator, Iterator, Sequence
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
    FileRefusedError,
    RollParser,
    RowIssue,
    column_index,
    parse_organisation,
)
from services.runtime.database import Database

log = logging.getLogger(__name__)

BATCH_SIZE = 5_000  # organisations per upsert
# Roll rows per parsed batch: larger batches cost less to pass between processes (one
# pickle, each repeated name and date once per batch) and stay small beside the roll.
ROLL_BATCH_SIZE = 20_000
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
    # Organisations: why, after the import, an episode could have no responsible local
    # authority (services.router.coverage); the import goes ahead, loudly warned.
    authority_gaps: list[str] = field(default_factory=list)

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
            **({"authority_gaps": self.authority_gaps} if self.kind == "organisations" else {}),
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
    with _open_csv(path) as (reader, _counted):
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
        _Job(n, file.path, file.header, part)
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
    for summary in summaries:
        summary.replaced = {
            org: replaced[org] for org in summary.per_organisation if org in replaced
        }
        summary.issues.sort(key=lambda issue: issue.line)
    if progress:
        progress(total)
    return summaries


async def _load_jobs(
    jobs: list[_Job],
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
    sources: list[Callable[[], _Chunks]] = []
    if in_processes:
        workers = min(
            len(in_processes), parser_count(sum(j.part.size for _, j in in_processes if j.part))
        )
        sources.append(lambda: _ProcessChunks(in_processes, known, iso, workers))
    sources += [
        functools.partial(_ThreadChunks, job, n, known, iso)
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

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class _Job:
    """What one parser does: a ``part`` of the import's ``file``-th file (a large
    file, in a worker process), or all of it (``part`` None, in a thread)."""

    file: int
    path: Path
    header: list[str]
    part: _Part | None


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

    job: int
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    issues: list[RowIssue] = field(default_factory=list)
    issue_count: int = 0
    skipped: int = 0
    per_organisation: Counter[str] = field(default_factory=Counter)
    bytes_read: int = 0  # of the chunk's job, so far

    def count_organisations(self) -> None:
        self.per_organisation.update(row[0] for row in self.rows)


def _roll_chunks(
    path: Path,
    known: Container[str],
    iso: bool,
    part: _Part | None = None,
    index: int = 0,
    header: list[str] | None = None,
) -> Generator[_Chunk, None, None]:
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
            if len(chunk.rows) >= ROLL_BATCH_SIZE:
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
    """Chunks of a small file parsed in a thread (a process costs about half a second)."""

    def __init__(self, job: _Job, index: int, known: Container[str], iso: bool) -> None:
        self._chunks = _roll_chunks(job.path, known, iso, None, index)

    async def next(self) -> _Chunk | None:
        return await asyncio.to_thread(next, self._chunks, None)

    def close(self) -> None:
        self._chunks.close()


def _parse_in_process(todo: Any, known: frozenset[str], iso: bool, out: Any) -> None:
    """A worker process: takes ``(index, job)`` from ``todo`` until None, putting each
    job's chunks on ``out`` and then its index alone (done); an error is sent as
    itself so the importer raises it (and rolls back)."""
    try:
        while (item := todo.get()) is not None:
            index, job = item
            for chunk in _roll_chunks(job.path, known, iso, job.part, index, job.header):
                out.put(chunk)
            out.put(index)
    except BaseException as exc:
        out.put(exc)


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """While processes are spawned: without a file or spec for ``__main__``, a spawned
    parser does not run the program's main module again first (for ``relay``, every
    command's imports: about 1.5 s per parser). Parsers need nothing from it."""
    main = sys.modules["__main__"].__dict__
    saved: dict[str, Any] = {name: main[name] for name in ("__file__", "__spec__") if name in main}
    main.pop("__file__", None)
    main["__spec__"] = None
    try:
        yield
    finally:
        main.pop("__spec__", None)
        main.update(saved)


class _ProcessChunks:
    """Chunks parsed by ``workers`` processes, which share out the jobs (each takes the
    next when it finishes one); chunks come in whatever order they are parsed. The
    shared queue holds a few batches at most, so memory stays bounded when the
    database is the slower side."""

    def __init__(
        self, jobs: list[tuple[int, _Job]], known: set[str], iso: bool, workers: int
    ) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a threaded process
        self._queue = context.Queue(maxsize=QUEUED_BATCHES * workers)
        self._todo = context.Queue()
        for item in jobs:
            self._todo.put(item)
        for _ in range(workers):
            self._todo.put(None)
        self._processes = [
            context.Process(
                target=_parse_in_process,
                args=(self._todo, frozenset(known), iso, self._queue),
                daemon=True,
            )
            for _ in range(workers)
        ]
        with _main_module_hidden():
            for process in self._processes:
                process.start()
        self._running = {n for n, _ in jobs}

    def _get(self) -> _Chunk | BaseException | int:
        while True:
            try:
                return self._queue.get(timeout=1)  # type: ignore[no-any-return]
            except queue.Empty:
                if all(not p.is_alive() for p in self._processes) or any(
                    p.exitcode not in (None, 0) for p in self._processes
                ):
                    codes = [p.exitcode for p in self._processes]
                    return RuntimeError(f"a roll parser stopped unexpectedly (exits {codes})")

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
        self._todo.close()

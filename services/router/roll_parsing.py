"""Reading and parsing roll files for the importer (services/router/importing.py): a CSV
file, or a byte range of it, into batches of rows ready for ``insert_roll``, in a thread
for a small file or in worker processes for a large one (each parses its own part)."""

from __future__ import annotations

import asyncio
import csv
import io
import multiprocessing
import queue
import sys
from collections import Counter
from collections.abc import Container, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from services.router.directory import RowIssue
from services.router.roll_parser import RollParser

# Roll rows per parsed batch: larger batches cost less to pass between processes (one
# pickle, each repeated name and date once per batch) and stay small beside the roll.
ROLL_BATCH_SIZE = 20_000
QUEUED_BATCHES = 4  # parsed batches waiting for the database: bounds the memory
_SPLIT_BLOCK = 4 << 20
MAX_ISSUES_KEPT = 10_000  # a file of millions of bad rows must not fill memory


class CountingReader(io.RawIOBase):
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
def open_csv(path: Path, part: Part | None = None) -> Iterator[tuple[Any, CountingReader]]:
    """A csv reader over ``path`` or one ``part`` of it (UTF-8, BOM tolerated at the
    start) and its byte counter."""
    with path.open("rb") as raw:
        if part is not None:
            raw.seek(part.start)
        counting = CountingReader(raw, None if part is None else part.end - part.start)
        encoding = "utf-8-sig" if part is None or part.start == 0 else "utf-8"
        text = io.TextIOWrapper(io.BufferedReader(counting, 1 << 16), encoding=encoding, newline="")
        try:
            yield csv.reader(text), counting
        finally:
            text.close()  # closes the counter, not ``raw``; the with block closes that


def size_and_header(path: Path) -> tuple[int, list[str]]:
    with open_csv(path) as (reader, _counted):
        return path.stat().st_size, next(reader, None) or []


@dataclass(frozen=True)
class Part:
    """A byte range of a roll file that one parser reads: ``start`` is 0 (the header
    comes first) or the start of a row; ``lines_before`` gives its rows' line numbers."""

    start: int
    end: int
    lines_before: int

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Job:
    """What one parser does: a ``part`` of the import's ``file``-th file (a large
    file, in a worker process), or all of it (``part`` None, in a thread)."""

    file: int
    path: Path
    header: list[str]
    part: Part | None


def split_parts(path: Path, size: int, count: int) -> list[Part]:
    """``count`` parts of about the same size, each cut after a row: at a line feed
    with an even number of quote characters before it, so not inside a quoted value.
    Reads the file once, a block at a time. A file whose lines end in a lone carriage
    return is not split (its line numbers would not follow)."""
    targets = [size * n // count for n in range(1, count)]
    parts = [Part(0, size, 0)]
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
                        Part(last.start, start, last.lines_before),
                        Part(start, size, before),
                    ]
            quotes += block.count(b'"')
            lines += block.count(b"\n")
            offset += len(block)
    return parts


@dataclass
class Chunk:
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


def roll_chunks(
    path: Path,
    known: Container[str],
    iso: bool,
    part: Part | None = None,
    index: int = 0,
    header: list[str] | None = None,
) -> Generator[Chunk, None, None]:
    """Parsed rows of ``path`` (or of one ``part`` of it) in batches of tuples ready for
    ``insert_roll`` (dates as ISO text when ``iso``); problems and counts ride along."""
    seen: dict[str, set[str]] = {}  # record ids met so far, per organisation
    with open_csv(path, part) as (reader, counted):
        if part is None or part.start == 0:
            header = next(reader, [])
        assert header is not None
        parser = RollParser(header, known, iso_dates=iso)
        lines_before = part.lines_before if part else 0
        chunk = Chunk(index)
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
                chunk = Chunk(index)
        chunk.count_organisations()
        chunk.bytes_read = counted.count
        yield chunk


class Chunks(Protocol):
    async def next(self) -> Chunk | None: ...

    def close(self) -> None: ...


class ThreadChunks:
    """Chunks of a small file parsed in a thread (a process costs about half a second)."""

    def __init__(self, job: Job, index: int, known: Container[str], iso: bool) -> None:
        self._chunks = roll_chunks(job.path, known, iso, None, index)

    async def next(self) -> Chunk | None:
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
            for chunk in roll_chunks(job.path, known, iso, job.part, index, job.header):
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


class ProcessChunks:
    """Chunks parsed by ``workers`` processes, which share out the jobs (each takes the
    next when it finishes one); chunks come in whatever order they are parsed. The
    shared queue holds a few batches at most, so memory stays bounded when the
    database is the slower side."""

    def __init__(
        self, jobs: list[tuple[int, Job]], known: set[str], iso: bool, workers: int
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

    def _get(self) -> Chunk | BaseException | int:
        while True:
            try:
                return self._queue.get(timeout=1)  # type: ignore[no-any-return]
            except queue.Empty:
                if all(not p.is_alive() for p in self._processes) or any(
                    p.exitcode not in (None, 0) for p in self._processes
                ):
                    codes = [p.exitcode for p in self._processes]
                    return RuntimeError(f"a roll parser stopped unexpectedly (exits {codes})")

    async def next(self) -> Chunk | None:
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

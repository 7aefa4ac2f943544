"""Cutting a roll file into parts for parallel parsers (roll_parsing.split_parts): every part
starts at a row, no quoted value is cut, and the line numbers carry on across parts."""

from __future__ import annotations

import csv
import io
import itertools
import random
from pathlib import Path

import pytest

from services.router import roll_parsing

_CELLS = ("x", 'he said "hi"', "multi\nline", "c,d", "é", '"', "")


def _rows(path: Path, part: roll_parsing.Part | None = None) -> list[tuple[int, list[str]]]:
    lines_before = part.lines_before if part else 0
    with roll_parsing.open_csv(path, part) as (reader, _counted):
        return [(reader.line_num + lines_before, row) for row in reader]


@pytest.mark.parametrize("seed", range(40))
def test_parts_read_together_are_the_file(
    seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator=rng.choice(["\n", "\r\n"]))
    writer.writerow(["org_code", "record_id"])
    for n in range(rng.randrange(0, 80)):
        writer.writerow([f"R{n}", rng.choice(_CELLS)])
    path = tmp_path / "roll.csv"
    path.write_bytes(text.getvalue().encode("utf-8"))
    monkeypatch.setattr(roll_parsing, "_SPLIT_BLOCK", rng.choice([7, 16, 64, 1 << 20]))

    parts = roll_parsing.split_parts(path, path.stat().st_size, rng.choice([2, 3, 4]))

    assert parts[0].start == 0 and parts[-1].end == path.stat().st_size
    assert all(a.end == b.start and a.start < a.end for a, b in itertools.pairwise(parts))
    assert [r for part in parts for r in _rows(path, part)] == _rows(path)


def test_a_file_with_lone_carriage_returns_is_one_part(tmp_path: Path) -> None:
    path = tmp_path / "roll.csv"
    path.write_bytes(b"org_code,record_id\r" + b"".join(b"A,R%d\r" % n for n in range(100)))
    assert roll_parsing.split_parts(path, path.stat().st_size, 2) == [
        roll_parsing.Part(0, path.stat().st_size, 0)
    ]

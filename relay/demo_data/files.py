"""The area's files (:func:`write_area`), and the benchmark's national-size roll streamed
to files (:func:`write_bench_area`)."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from relay.demo_data.feed import truth_row
from relay.demo_data.model import (
    LA_CODE,
    LEAVER_SHARE,
    OFF_ROLL_EVENT_SHARE,
    ORGANISATION_COLUMNS,
    POLICE_NHS_SHARE,
    ROLL_COLUMNS,
    TRUTH_COLUMNS,
    TWIN_MISSING_SHARE,
    Child,
    DemoArea,
    RollRow,
    TruthRow,
    reference_now,
)
from relay.demo_data.people import AreaGenerator, Population, area_organisations
from relay.demo_data.police import choose_corruption, police_child


def record_row(record_id: str, child: dict[str, Any]) -> list[str]:
    """A police record as a row of ``records.csv`` (roll columns, ``org_code`` empty)."""
    return [
        "",
        record_id,
        child["given_name"],
        child["family_name"],
        child["date_of_birth"],
        child.get("sex", ""),
        child.get("nhs_number", ""),
        child.get("upn", ""),
        child.get("postcode", ""),
        child.get("address", ""),
        "",
        "",
    ]


def write_csv(path: Path, header: tuple[str, ...], rows: Any) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def write_area(area: DemoArea, out: Path) -> dict[str, int]:
    """Write the area's files into ``out``; returns the rows written per file."""
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    files: list[tuple[str, tuple[str, ...], Any]] = [
        ("organisations.csv", ORGANISATION_COLUMNS, (o.as_csv() for o in area.organisations)),
        ("roll_schools.csv", ROLL_COLUMNS, (r.as_csv() for r in area.school_roll)),
        ("roll_gps.csv", ROLL_COLUMNS, (r.as_csv() for r in area.gp_roll)),
        ("roll_yot.csv", ROLL_COLUMNS, (r.as_csv() for r in area.yot_roll)),
        ("truth.csv", TRUTH_COLUMNS, (t.as_csv() for t in area.truth)),
        # The police records alone, to score `relay link` against truth.csv.
        ("records.csv", ROLL_COLUMNS, (record_row(e["event_id"], e["child"]) for e in area.feed)),
    ]
    for name, header, rows in files:
        counts[name] = write_csv(out / name, header, rows)
    with (out / "feed.ndjson").open("w", encoding="utf-8") as handle:
        for event in area.feed:
            handle.write(json.dumps(event, ensure_ascii=False) + "\n")
    counts["feed.ndjson"] = len(area.feed)
    # The area's own authority hears of every episode nobody else claims (DESIGN §6).
    # Dead letters reach a person (the operations mailbox lands in var/outbox/ too).
    (out / "policy.toml").write_text(
        "# Routing policy of the demo partnership (RELAY_POLICY_FILE).\n"
        'operations_email = "relay-support@northumberland.example.org"\n\n'
        f'[routing]\ndefault_la = "{LA_CODE}"\n',
        encoding="utf-8",
    )
    return counts


@dataclass
class BenchArea:
    """What :func:`write_bench_area` wrote, and the police records to look up."""

    organisations: Path
    rolls: list[Path]
    roll_rows: int
    children: int
    on: date
    records: list[dict[str, Any]]  # {"record_id": ..., "child": {...}} (ChildV1 fields)
    truth: list[TruthRow]


def write_bench_area(
    out: Path,
    roll_rows: int,
    records: int = 2000,
    seed: int = 0,
    now: datetime | None = None,
    off_roll_share: float = OFF_ROLL_EVENT_SHARE,
) -> BenchArea:
    """Stream school rolls, GP lists and the YOT caseload totalling about ``roll_rows``
    rows into ``out`` (``organisations.csv``, ``roll_schools.csv``, ``roll_gps.csv``,
    ``roll_yot.csv``: every organisation the truth names has its roll), keeping in memory
    only the few children drawn for ``records`` police records (with errors, as in the
    feed) and their truth. Also writes ``records.csv`` and ``truth.csv``."""
    now = reference_now(now)
    on = now.date()
    children = max(2, round(roll_rows / (2 + LEAVER_SHARE)))
    gen = AreaGenerator(random.Random(seed), now)
    fixed, schools, gps = area_organisations(gen, children)
    out.mkdir(parents=True, exist_ok=True)
    organisations = out / "organisations.csv"
    write_csv(organisations, ORGANISATION_COLUMNS, (o.as_csv() for o in fixed + schools + gps))
    # Who to keep is drawn from its own generator, so the rolls do not depend on it.
    keep_rng = random.Random(seed + 1)
    keep_share = min(1.0, 2.0 * records / children)
    people = Population(gen, schools, gps).children(children)
    paths, written, kept, twins = _stream_rolls(out, people, keep_rng, keep_share)
    twin_cases = min(len(twins), max(1, round(records * TWIN_MISSING_SHARE)))
    strangers = round(records * off_roll_share)
    chosen = keep_rng.sample(twins, twin_cases)
    chosen += keep_rng.sample(kept, min(len(kept), max(0, records - twin_cases - strangers)))
    chosen += [gen.child(f"X{n:06d}") for n in range(1, records - len(chosen) + 1)]
    keep_rng.shuffle(chosen)
    police, truth = _police_records(chosen, gen, on)
    write_csv(
        out / "records.csv",
        ROLL_COLUMNS,
        (record_row(p["record_id"], p["child"]) for p in police),
    )
    write_csv(out / "truth.csv", TRUTH_COLUMNS, (t.as_csv() for t in truth))
    return BenchArea(organisations, list(paths.values()), written, children, on, police, truth)


def _stream_rolls(
    out: Path,
    people: Iterator[tuple[Child, list[tuple[str, RollRow]]]],
    keep_rng: random.Random,
    keep_share: float,
) -> tuple[dict[str, Path], int, list[Child], list[Child]]:
    """Write every roll row as it is drawn; keep the twins and a ``keep_share`` of the
    other children (the candidates for police records)."""
    kept: list[Child] = []
    twins: list[Child] = []
    paths = {
        "school": out / "roll_schools.csv",
        "gp": out / "roll_gps.csv",
        "yot": out / "roll_yot.csv",
    }
    written = 0
    with (
        paths["school"].open("w", newline="", encoding="utf-8") as school_file,
        paths["gp"].open("w", newline="", encoding="utf-8") as gp_file,
        paths["yot"].open("w", newline="", encoding="utf-8") as yot_file,
    ):
        writers = {
            "school": csv.writer(school_file, lineterminator="\n"),
            "gp": csv.writer(gp_file, lineterminator="\n"),
            "yot": csv.writer(yot_file, lineterminator="\n"),
        }
        for writer in writers.values():
            writer.writerow(ROLL_COLUMNS)
        for child, rows in people:
            for kind, row in rows:
                if kind in writers:
                    writers[kind].writerow(row.as_csv())
                    written += 1
            if child.twin_of:
                twins.append(child)  # about 3% of children; ids and a few fields only
            elif keep_rng.random() < keep_share:
                kept.append(child)
    return paths, written, kept, twins


def _police_records(
    chosen: list[Child], gen: AreaGenerator, on: date
) -> tuple[list[dict[str, Any]], list[TruthRow]]:
    police: list[dict[str, Any]] = []
    truth: list[TruthRow] = []
    for n, child in enumerate(chosen, start=1):
        kinds = choose_corruption(child, gen.rng)
        record_id = f"R{n:07d}"
        block = police_child(child, gen, kinds, gen.rng.random() < POLICE_NHS_SHARE)
        police.append({"record_id": record_id, "child": block})
        truth.append(truth_row(record_id, child, on, True, kinds))
    return police, truth

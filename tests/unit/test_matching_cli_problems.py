"""``relay matching evaluate`` (and ``misses``, ``train``) on files with many refused
rows: the first problems with their lines, then how many more and in which columns,
not one line for each (FEBRL's dataset4 has 578)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from relay.cli import app
from relay.corruption import HELD_OUT, generate, write_set
from services.router.cli import ISSUES_SHOWN


def test_refused_records_are_shown_then_counted_by_column(tmp_path: Path) -> None:
    roll, records, labels = write_set(tmp_path, generate(5, 300, 40, HELD_OUT))
    lines = records.read_text(encoding="utf-8").splitlines()
    good = lines[1]
    no_given = [good.replace(good.split(",")[0], f"BAD{n}", 1) for n in range(ISSUES_SHOWN + 7)]
    bad = []
    for n, line in enumerate(no_given):
        fields = line.split(",")
        fields[1 if n % 3 else 3] = ""  # given_name, or date_of_birth every third
        bad.append(",".join(fields))
    records.write_text("\n".join([*lines, *bad]) + "\n", encoding="utf-8")
    assert lines[0].split(",")[1] == "given_name" and lines[0].split(",")[3] == "date_of_birth"

    result = CliRunner().invoke(
        app,
        ["matching", "evaluate", f"--roll={roll}", f"--records={records}", f"--labels={labels}"],
    )

    assert result.exit_code == 0, result.output
    shown = [line for line in result.stderr.splitlines() if ": line " in line]
    assert len(shown) == ISSUES_SHOWN
    assert all(line.startswith(f"{records}: line ") for line in shown)
    more = [line for line in result.stderr.splitlines() if "more problem" in line]
    assert more == [f"{records}: ... and 7 more problem(s) (given_name 5, date_of_birth 2)"]
    assert "records: 40" in result.stdout  # the refused ones are left out of the figures

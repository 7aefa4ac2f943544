"""Feed files to payloads: CSV cells to nested fields, NDJSON lines, unreadable cells."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ingest.feed import CellError, read_csv, read_feed, read_ndjson, row_to_payload


def test_dotted_columns_nest_and_empty_cells_are_absent() -> None:
    payload = row_to_payload(
        {
            "event_id": "E-1",
            "force_code": "01",
            "child.given_name": "Amy",
            "child.family_name": "Smith",
            "child.postcode": "",
            "location.description": " park ",
        }
    )
    assert payload == {
        "event_id": "E-1",
        "force_code": "01",
        "child": {"given_name": "Amy", "family_name": "Smith"},
        "location": {"description": "park"},
    }


def test_factors_split_on_semicolons_booleans_and_found_with_json() -> None:
    payload = row_to_payload(
        {
            "risk.grade": "high",
            "risk.factors": "cse; county-lines;;",
            "child.looked_after": "TRUE",
            "found_with": '[{"given_name": "Bo", "family_name": "Lee"}]',
        }
    )
    assert payload["risk"] == {"grade": "high", "factors": ["cse", "county-lines"]}
    assert payload["child"] == {"looked_after": True}
    assert payload["found_with"] == [{"given_name": "Bo", "family_name": "Lee"}]
    assert row_to_payload({"child.looked_after": "false"})["child"]["looked_after"] is False


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ({"found_with": "[{not json"}, "found_with"),
        ({"child.looked_after": "maybe"}, "child.looked_after"),
        ({"child": "x", "child.given_name": "Amy"}, "child.given_name"),
    ],
)
def test_unreadable_cells_name_their_column(row: dict[str, str], column: str) -> None:
    with pytest.raises(CellError) as caught:
        row_to_payload(row)
    assert caught.value.column == column


def test_csv_lines_carry_file_line_numbers_and_cell_errors() -> None:
    text = [
        "event_id,child.given_name,child.looked_after\n",
        "A,Amy,true\n",
        'B,"Multi\n',
        'line",false\n',
        "C,Cy,perhaps\n",
        "D,Di,true,extra\n",
    ]
    lines = list(read_csv(text))
    assert [(x.line, x.event_id) for x in lines[:2]] == [(2, "A"), (4, "B")]
    assert lines[1].payload == {
        "event_id": "B",
        "child": {"given_name": "Multi\nline", "looked_after": False},
    }
    assert lines[2].line == 5 and lines[2].payload is None
    assert lines[2].errors[0]["field"] == "child.looked_after"
    assert lines[3].errors[0]["field"] == "(row)"


def test_ndjson_skips_blank_lines_and_reports_bad_ones() -> None:
    lines = list(read_ndjson(['{"event_id": "A"}\n', "\n", "{oops\n", "[1]\n"]))
    assert [(x.line, x.event_id) for x in lines] == [(1, "A"), (3, ""), (4, "")]
    assert lines[1].errors[0]["field"] == "(line)"
    assert "object" in lines[2].errors[0]["message"]


def test_format_follows_the_suffix() -> None:
    assert next(read_feed(Path("f.jsonl"), ['{"event_id": "x"}'])).payload == {"event_id": "x"}
    assert next(read_feed(Path("f.csv"), ["event_id\n", "x\n"])).payload == {"event_id": "x"}

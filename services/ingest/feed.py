"""Police feed files (CSV or NDJSON) to submission payloads: pure conversion, no I/O
beyond reading the rows handed in.

CSV: a header of dotted names as in DESIGN §4 (``child.given_name``); an empty cell is an
absent field; ``risk.factors`` is separated by ``;``; ``found_with`` is JSON text;
booleans are ``true``/``false``. NDJSON (``.ndjson``/``.jsonl``): one event per line.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LIST_FIELDS = frozenset({"risk.factors"})
JSON_FIELDS = frozenset({"found_with"})
BOOL_FIELDS = frozenset({"child.looked_after"})
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}
NDJSON_SUFFIXES = (".ndjson", ".jsonl")


@dataclass(frozen=True)
class FeedLine:
    """One event of a file: its line number, and its payload or why it cannot be sent."""

    line: int
    payload: dict[str, Any] | None
    errors: list[dict[str, str]] = field(default_factory=list)
    raw_event_id: str = ""

    @property
    def event_id(self) -> str:
        value = (self.payload or {}).get("event_id")
        return value if isinstance(value, str) else self.raw_event_id


class CellError(ValueError):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(f"{column}: {message}")
        self.column = column
        self.message = message


def row_to_payload(row: dict[str, str | None]) -> dict[str, Any]:
    """A CSV row (column -> cell) as a nested payload. Raises :class:`CellError` for a
    cell that cannot be read (the service judges everything else)."""
    payload: dict[str, Any] = {}
    for column, cell in row.items():
        if column is None or cell is None:
            continue
        name = column.strip()
        text = cell.strip()
        if not name or text == "":
            continue
        _put(payload, name, _cell(name, text))
    return payload


def _cell(name: str, text: str) -> Any:
    if name in LIST_FIELDS:
        return [part.strip() for part in text.split(";") if part.strip()]
    if name in JSON_FIELDS:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise CellError(name, f"not valid JSON ({exc.args[0]})") from None
    if name in BOOL_FIELDS:
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise CellError(name, f"expected true or false, got {text!r}")
    return text


def _put(payload: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = payload
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise CellError(dotted, f"conflicts with the column {part!r}")
        node = child
    node[parts[-1]] = value


def is_ndjson(path: Path) -> bool:
    return path.suffix.lower() in NDJSON_SUFFIXES


def read_csv(lines: Iterable[str]) -> Iterator[FeedLine]:
    reader = csv.DictReader(lines)
    for row in reader:
        line = reader.line_num
        extra = row.pop(None, None)  # type: ignore[call-overload]
        event_id = (row.get("event_id") or "").strip()
        if extra:
            yield FeedLine(
                line,
                None,
                [
                    {
                        "field": "(row)",
                        "message": f"{len(extra)} more cells than the header has columns",
                    }
                ],
            )
            continue
        try:
            yield FeedLine(line, row_to_payload(row))
        except CellError as exc:
            yield FeedLine(line, None, [{"field": exc.column, "message": exc.message}], event_id)


def read_ndjson(lines: Iterable[str]) -> Iterator[FeedLine]:
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except ValueError as exc:
            yield FeedLine(
                number, None, [{"field": "(line)", "message": f"not valid JSON: {exc.args[0]}"}]
            )
            continue
        if not isinstance(data, dict):
            yield FeedLine(number, None, [{"field": "(line)", "message": "expected a JSON object"}])
            continue
        yield FeedLine(number, data)


def read_feed(path: Path, lines: Iterable[str]) -> Iterator[FeedLine]:
    return read_ndjson(lines) if is_ndjson(path) else read_csv(lines)

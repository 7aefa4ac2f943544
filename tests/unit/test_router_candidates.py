"""The candidates query's columns are RollRecord's fields in their order: the router
builds each record from a row by position (services/router/repository.py)."""

from __future__ import annotations

import dataclasses

from services.router.directory import RollRecord
from services.router.repository import _ROLL_COLUMNS


def test_the_candidates_columns_are_the_roll_records_fields_in_order() -> None:
    fields = [field.name for field in dataclasses.fields(RollRecord)]
    assert [column.name for column in _ROLL_COLUMNS] == fields

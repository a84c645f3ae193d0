"""The committed JSON Schemas are what the models generate (regenerate: python -m reetrace.schemas)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reetrace.intake.files import CSV_COLUMNS, CsvRow
from reetrace.schemas import render, schemas

SCHEMAS = Path(__file__).parent.parent / "schemas"


@pytest.mark.parametrize("name", sorted(schemas()))
def test_committed_schema_matches_the_models(name: str) -> None:
    committed = SCHEMAS / name
    assert committed.exists(), f"{committed} is missing: run python -m reetrace.schemas"
    assert committed.read_bytes() == render(schemas()[name]), (
        f"{committed} drifted from the models: run python -m reetrace.schemas and commit"
    )


def test_csv_row_model_lists_exactly_the_csv_columns() -> None:
    # Fields are named as in the file: ``from_`` (a Python keyword otherwise) by its alias.
    assert tuple(f.alias or name for name, f in CsvRow.model_fields.items()) == CSV_COLUMNS

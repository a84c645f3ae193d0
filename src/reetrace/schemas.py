"""JSON Schemas of the file formats, generated from the pydantic models.

``python -m reetrace.schemas [DIR]`` writes them (default ``schemas/``); a test fails when the committed
files drift from the models.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

from reetrace.intake.files import CsvRow
from reetrace.models import Event, Registry

_ID = "https://reetrace.example/schemas/"


def schemas() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, model, title in (
        ("event.schema.json", Event, "reetrace event (one line of a JSON Lines submission)"),
        ("csv-row.schema.json", CsvRow, "reetrace CSV row (one lot line of an event)"),
        ("registry.schema.json", Registry, "reetrace registry file"),
    ):
        schema = model.model_json_schema(mode="validation")
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": _ID + name,
                  **schema, "title": title}  # fmt: skip
        out[name] = schema
    return out


def render(schema: dict[str, Any]) -> bytes:
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, schema in schemas().items():
        path = directory / name
        path.write_bytes(render(schema))
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write(Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")):
        print(p)

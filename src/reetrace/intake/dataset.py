"""Loading a generated dataset directory (``reetrace generate``) into a store, in manifest order.

A dataset is ``registry.json``, ``manifest.json`` (``[{enterprise, period, file, received_at}]``, the
order in which the submissions arrived) and the submission files. Each submission goes through the same
:func:`reetrace.intake.submit.submit` as any other, with its recorded time of receipt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from reetrace.intake.registry import load, parse_registry
from reetrace.intake.submit import SubmissionResult, submit
from reetrace.store import Store


@dataclass(frozen=True)
class LoadSummary:
    submissions: int
    events: int
    lot_lines: int
    late: int


def read_manifest(directory: Path) -> list[dict[str, Any]]:
    path = directory / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no manifest; is {directory} a dataset from `reetrace generate`?")
    entries: list[dict[str, Any]] = orjson.loads(path.read_bytes())
    return entries


def load_dataset(
    store: Store,
    directory: Path,
    *,
    on_submission: Callable[[SubmissionResult], None] | None = None,
) -> LoadSummary:
    """Load the registry, then every submission in the manifest (idempotent: reloading adds nothing)."""
    load(store, parse_registry(str(directory / "registry.json")))
    events = lines = late = n = 0
    for entry in read_manifest(directory):
        r = submit(
            store,
            str(directory / entry["file"]),
            enterprise=entry["enterprise"],
            period=entry["period"],
            received_at=datetime.fromisoformat(entry["received_at"]),
        )
        n += 1
        events += r.new_events
        lines += r.lot_lines
        late += int(r.late and not r.noop)
        if on_submission is not None:
            on_submission(r)
    return LoadSummary(n, events, lines, late)

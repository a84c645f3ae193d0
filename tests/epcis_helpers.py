"""Realistic events of every type for the EPCIS tests (from examples/*.jsonl, plus adjust and retract)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from reetrace.models import Event

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "epcis"


@cache
def schema() -> dict[str, Any]:
    return json.loads((DATA / "EPCIS-JSON-Schema.json").read_text())


def example_events() -> list[Event]:
    """The hand-written March chain of examples/: extract, import, process, ship, receive, export."""
    return [
        Event.model_validate_json(line)
        for f in sorted((REPO / "examples").glob("*.jsonl"))
        for line in f.read_text().splitlines()
        if line.strip()
    ]


_SEP = {"lot": "SEG-9", "product": "SEG oxide", "form": "oxide", "mass_kg": 120.5, "reo_pct": 99.0,
        "elements": {"Sm": 40.0, "Eu": 10.0, "Gd": 50.0}}  # fmt: skip

EXTRA: list[dict[str, Any]] = [
    {"event_id": "ADJ-1", "type": "adjust", "enterprise": "NMSEP", "site": "BT-SEP",
     "occurred_at": "2025-03-30T09:00:00+08:00", "reason": "stock-take: drum found",
     "outputs": [_SEP], "note": "found in warehouse B"},
    {"event_id": "ADJ-2", "type": "adjust", "enterprise": "NMSEP", "site": "BT-SEP",
     "occurred_at": "2025-03-30T10:00:00.250+08:00", "reason": "spill",
     "inputs": [{"lot": "SEG-9", "mass_kg": 0.5}]},
    {"event_id": "CON-1", "type": "consume", "enterprise": "NMSEP", "site": "BT-SEP",
     "occurred_at": "2025-03-31T10:00:00-05:30", "inputs": [{"lot": "SEG-9", "mass_kg": 20}],
     "documents": {"customs_entry": "X/1 2", "contract": "C:77"}},
    {"event_id": "TOLL-1", "type": "process", "process": "separation", "counterparty": "GXIMP",
     "enterprise": "NMSEP", "site": "BT-SEP", "occurred_at": "2025-03-31T11:00:00Z",
     "inputs": [{"lot": "GXIMP:MM ION/0311", "mass_kg": 10}], "outputs": [{**_SEP, "lot": "NMSEP:SEG:10 é"}]},
    {"event_id": "EXP-2", "type": "export", "enterprise": "NBMAG", "site": "NB-MAG",
     "occurred_at": "2025-03-29T10:00:00+08:00", "counterparty": "DEBUYER",
     "destination": {"country": "DE", "customs_entry": "0042"}, "inputs": [{"lot": "MAG-2503-0042", "mass_kg": 1}]},
    {"event_id": "RCV-2", "type": "receive", "enterprise": "NBMAG", "site": "NB-MAG",
     "occurred_at": "2025-03-22T10:00:00+08:00", "counterparty": "NBMET",
     "inputs": [{"lot": "NBMET:A", "mass_kg": 10}, {"lot": "NBMET:B", "mass_kg": 5}],
     "outputs": [{"lot": "A2", "product": "scrap", "form": "scrap", "mass_kg": 10, "re_metal_pct": 30.0},
                 {"lot": "B2", "product": "ore", "form": "ore", "mass_kg": 5, "reo_pct": 3.5}]},
    {"event_id": "RET-1", "type": "retract", "enterprise": "NMSEP", "site": "BT-SEP",
     "occurred_at": "2025-04-01T10:00:00+08:00", "retracts": "ADJ-1", "reason": "entered twice",
     "documents": {"memo": "M-1"}, "note": "see ADJ-2"},
]  # fmt: skip


def all_types() -> list[Event]:
    """At least one event of every type, in an order where each retract follows what it retracts."""
    return [*example_events(), *(Event.model_validate(r) for r in EXTRA)]

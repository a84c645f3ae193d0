"""Builders for hand-made registries and events used across the tests."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from reetrace.intake.registry import load
from reetrace.intake.submit import SubmissionResult, submit
from reetrace.models import Registry
from reetrace.store import Store

REGISTRY: dict[str, Any] = {
    "groups": [
        {"code": "CNRE", "name": "China Northern Rare Earth Group"},
        {"code": "CREG", "name": "China Rare Earth Group"},
    ],
    "enterprises": [
        {"code": "MINE", "name": "Bayan Obo Mining", "group": "CNRE", "province": "Inner Mongolia",
         "roles": ["mining"], "approved": True},
        {"code": "MINE2", "name": "Sichuan Mining", "group": "CREG", "roles": ["mining"], "approved": True},
        {"code": "IMP", "name": "Importer", "roles": ["import", "trading"], "approved": False},
        {"code": "SEP", "name": "Baotou Separation", "group": "CNRE", "roles": ["separation"],
         "approved": True},
        {"code": "MET", "name": "Metal Smelter", "roles": ["metal_smelting"], "approved": False},
        {"code": "MAG", "name": "Magnet Maker", "roles": ["magnet_making", "export"], "approved": False},
    ],
    "sites": [
        {"code": "BO", "enterprise": "MINE", "kind": "mine", "licence": "C1500002009"},
        {"code": "SC", "enterprise": "MINE2", "kind": "mine", "licence": "C5100002011"},
        {"code": "PORT", "enterprise": "IMP", "kind": "port"},
        {"code": "SEP-P", "enterprise": "SEP", "kind": "plant", "capacity_t": 20000},
        {"code": "MET-P", "enterprise": "MET", "kind": "plant"},
        {"code": "MAG-P", "enterprise": "MAG", "kind": "plant"},
    ],
    "quotas": [
        {"year": 2025, "batch": 1, "holder": "CNRE", "category": "mining", "tonnes_reo": 94580},
        {"year": 2025, "batch": 1, "holder": "CNRE", "category": "separation", "tonnes_reo": 88010},
    ],
}  # fmt: skip

BAYAN_OBO = {"La": 23.0, "Ce": 50.0, "Pr": 6.2, "Nd": 18.5, "Sm": 0.8, "Eu": 0.2, "Gd": 0.7,
             "Tb": 0.1, "Dy": 0.1, "Y": 0.4}  # fmt: skip


def load_registry(store: Store, registry: dict[str, Any] | None = None) -> None:
    load(store, Registry.model_validate(registry or REGISTRY))


def write_jsonl(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


def submit_events(
    store: Store,
    tmp_path: Path,
    enterprise: str,
    period: str,
    events: list[dict[str, Any]],
    received_at: str = "2025-04-05T10:00:00+08:00",
) -> SubmissionResult:
    """Write ``events`` to a JSONL file and submit it (received on time by default)."""
    path = write_jsonl(tmp_path / f"{enterprise}-{period}-{len(events)}.jsonl", events)
    return submit(
        store, str(path), enterprise=enterprise, period=period,
        received_at=datetime.fromisoformat(received_at),
    )  # fmt: skip


def ev(event_id: str, type_: str, enterprise: str, site: str, when: str, **kw: Any) -> dict[str, Any]:
    """An event dict; ``when`` is a day like ``"2025-03-02"`` or a full ISO timestamp."""
    at = when if "T" in when else f"{when}T10:00:00+08:00"
    return {"event_id": event_id, "type": type_, "enterprise": enterprise, "site": site,
            "occurred_at": at, **kw}  # fmt: skip


def out(lot: str, form: str, mass_kg: float, *, product: str | None = None,
        reo_pct: float | None = None, re_metal_pct: float | None = None,
        elements: dict[str, float] | None = None) -> dict[str, Any]:  # fmt: skip
    line: dict[str, Any] = {
        "lot": lot,
        "product": product or form,
        "form": form,
        "mass_kg": mass_kg,
    }
    if reo_pct is not None:
        line["reo_pct"] = reo_pct
    if re_metal_pct is not None:
        line["re_metal_pct"] = re_metal_pct
    if elements is not None:
        line["elements"] = elements
    return line


def inp(lot: str, mass_kg: float) -> dict[str, Any]:
    return {"lot": lot, "mass_kg": mass_kg}

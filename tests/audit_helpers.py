"""Builders for the audit tests: a registry with small quotas and a clean chain mine → magnet."""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path
from typing import Any

from reetrace.audit import Finding, Tolerances, run_audit
from reetrace.elements import METAL_PER_OXIDE, reo_equivalent
from reetrace.store import Store
from tests.helpers import BAYAN_OBO, REGISTRY, ev, inp, load_registry, out, submit_events

#: Audits of March 2025 stand here unless a test says otherwise: March's deadline (10 April) and
#: April's (10 May) have passed.
AS_OF = datetime.fromisoformat("2025-06-01T00:00:00+08:00")
MARCH_RECEIVED = "2025-04-05T10:00:00+08:00"
APRIL_RECEIVED = "2025-05-05T10:00:00+08:00"

PRND = {"Pr": 25.0, "Nd": 75.0}


def audit_registry() -> dict[str, Any]:
    reg = copy.deepcopy(REGISTRY)
    reg["enterprises"] += [
        {"code": "REC", "name": "Magnet Recycler", "roles": ["recycling"], "approved": False},
        {"code": "IMP2", "name": "Port Trader", "roles": ["trading"], "approved": False},
    ]
    reg["sites"] += [
        {"code": "REC-P", "enterprise": "REC", "kind": "plant"},
        {"code": "BO-WH", "enterprise": "MINE", "kind": "warehouse"},
        {"code": "IMP2-W", "enterprise": "IMP2", "kind": "warehouse"},
    ]
    # Small quotas, so that a test can exceed one with a few lots.
    reg["quotas"] = [
        {"year": 2025, "batch": 1, "holder": "CNRE", "category": "mining", "tonnes_reo": 60},
        {"year": 2025, "batch": 2, "holder": "CNRE", "category": "mining", "tonnes_reo": 40},
        {"year": 2025, "batch": 1, "holder": "CNRE", "category": "separation", "tonnes_reo": 100},
    ]
    return reg


def setup(store: Store) -> None:
    load_registry(store, audit_registry())


def metal_mass_for(reo_kg: float, profile: dict[str, float]) -> float:
    """Mass of 100% RE metal with ``profile`` holding ``reo_kg`` of REO equivalent."""
    per_kg, _ = reo_equivalent(1.0, re_metal_pct=100.0, elements=profile)
    return reo_kg / per_kg


def metal_profile(oxide_profile: dict[str, float]) -> dict[str, float]:
    """The metal-basis profile of the metal made from an oxide of ``oxide_profile``."""
    raw = {el: share * METAL_PER_OXIDE[el] for el, share in oxide_profile.items()}
    return {el: v * 100 / sum(raw.values()) for el, v in raw.items()}


def oxide(lot: str, reo_kg: float, profile: dict[str, float] | None = None) -> dict[str, Any]:
    """An oxide output line at 99% REO holding ``reo_kg``."""
    return out(lot, "oxide", reo_kg / 0.99, reo_pct=99.0, elements=profile or BAYAN_OBO)


def clean_chain(store: Store, tmp_path: Path) -> None:
    """Mine → separation (6% loss) → metal (4% loss) → magnet → export, all in March 2025, custody
    matched with documents: every rule must stay silent on it."""
    w = {"documents": {"waybill": "W1"}}
    submit_events(store, tmp_path, "MINE", "2025-03", [
        ev("m1", "extract", "MINE", "BO", "2025-03-02",
           outputs=[out("ORE1", "concentrate", 10000, reo_pct=50, elements=BAYAN_OBO)]),
        ev("m2", "ship", "MINE", "BO", "2025-03-03", counterparty="SEP",
           inputs=[inp("ORE1", 10000)], **w),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    metal_reo = 4700 * 0.96
    submit_events(store, tmp_path, "SEP", "2025-03", [
        ev("s1", "receive", "SEP", "SEP-P", "2025-03-04", counterparty="MINE",
           inputs=[inp("MINE:ORE1", 10000)],
           outputs=[out("C1", "concentrate", 10000, reo_pct=50, elements=BAYAN_OBO)], **w),
        ev("s2", "process", "SEP", "SEP-P", "2025-03-05", process="separation",
           inputs=[inp("C1", 10000)], outputs=[oxide("OX1", 4700)]),
        ev("s3", "ship", "SEP", "SEP-P", "2025-03-06", counterparty="MET",
           inputs=[inp("OX1", 4700 / 0.99)], documents={"waybill": "W2"}),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    metal = metal_profile(BAYAN_OBO)
    metal_kg = metal_mass_for(metal_reo, metal)
    submit_events(store, tmp_path, "MET", "2025-03", [
        ev("t1", "receive", "MET", "MET-P", "2025-03-07", counterparty="SEP",
           inputs=[inp("SEP:OX1", 4700 / 0.99)], outputs=[oxide("OX1", 4700)],
           documents={"waybill": "W2"}),
        ev("t2", "process", "MET", "MET-P", "2025-03-08", process="metal_smelting",
           inputs=[inp("OX1", 4700 / 0.99)],
           outputs=[out("MT1", "metal", metal_kg, re_metal_pct=100, elements=metal)]),
        ev("t3", "ship", "MET", "MET-P", "2025-03-09", counterparty="MAG",
           inputs=[inp("MT1", metal_kg)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip
    submit_events(store, tmp_path, "MAG", "2025-03", [
        ev("g1", "receive", "MAG", "MAG-P", "2025-03-10", counterparty="MET",
           inputs=[inp("MET:MT1", metal_kg)],
           outputs=[out("MT1", "metal", metal_kg, re_metal_pct=100, elements=metal)]),
        ev("g2", "process", "MAG", "MAG-P", "2025-03-11", process="magnet_making",
           inputs=[inp("MT1", metal_kg)],
           outputs=[out("MG1", "magnet", metal_kg / 0.31, re_metal_pct=31, elements=metal)]),
        ev("g3", "export", "MAG", "MAG-P", "2025-03-12",
           destination={"country": "DE", "customs_entry": "X1"},
           inputs=[inp("MG1", metal_kg / 0.31)]),
    ], received_at=MARCH_RECEIVED)  # fmt: skip


def audit(store: Store, *rules: str, as_of: datetime = AS_OF, **kw: Any) -> list[Finding]:
    return run_audit(store, rules=list(rules) or None, as_of=as_of, **kw).findings


def kinds(findings: list[Finding]) -> list[tuple[str, str | None, str | None]]:
    """(rule, enterprise, detail kind) of each finding, for compact assertions."""
    return [(f.rule, f.enterprise, f.detail.get("kind")) for f in findings]


__all__ = [
    "APRIL_RECEIVED",
    "AS_OF",
    "BAYAN_OBO",
    "MARCH_RECEIVED",
    "PRND",
    "Tolerances",
    "audit",
    "audit_registry",
    "clean_chain",
    "ev",
    "inp",
    "kinds",
    "metal_mass_for",
    "metal_profile",
    "out",
    "oxide",
    "setup",
    "submit_events",
]  # fmt: skip


def load_dataset(store: Store, outdir: Path) -> list[dict[str, Any]]:
    """Load a generated dataset (registry, then submissions in manifest order); its ground truth."""
    import orjson

    from reetrace.intake.registry import load, parse_registry
    from reetrace.intake.submit import submit

    load(store, parse_registry(str(outdir / "registry.json")))
    for row in orjson.loads((outdir / "manifest.json").read_bytes()):
        submit(
            store, str(outdir / row["file"]), enterprise=row["enterprise"], period=row["period"],
            received_at=datetime.fromisoformat(row["received_at"]),
        )  # fmt: skip
    truth = orjson.loads((outdir / "ground_truth.json").read_bytes())
    return list(truth["injected"])

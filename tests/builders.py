"""Builders for the tests: hand-made registries and events, a clean chain for the audit rules, chains of
events per enterprise and period for the traces, and generated datasets loaded with their ground truth.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from reetrace.audit import Finding, run_audit
from reetrace.elements import METAL_PER_OXIDE, reo_equivalent
from reetrace.intake.registry import load, parse_registry
from reetrace.intake.submit import SubmissionResult, submit
from reetrace.models import Registry
from reetrace.store import Store

# -- registries and events -----------------------------------------------------------------------------

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


# -- audit tests: a registry with small quotas and a clean chain mine -> magnet --------------------------

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


def load_generated(store: Store, outdir: Path) -> list[dict[str, Any]]:
    """Load a generated dataset (registry, then submissions in manifest order); its ground truth."""
    load(store, parse_registry(str(outdir / "registry.json")))
    for row in orjson.loads((outdir / "manifest.json").read_bytes()):
        submit(
            store, str(outdir / row["file"]), enterprise=row["enterprise"], period=row["period"],
            received_at=datetime.fromisoformat(row["received_at"]),
        )  # fmt: skip
    truth = orjson.loads((outdir / "ground_truth.json").read_bytes())
    return list(truth["injected"])


# -- trace tests: a registry with a recycler, a trader and a second separator; chains of events --------

TRACE_REGISTRY: dict[str, Any] = copy.deepcopy(REGISTRY)
TRACE_REGISTRY["enterprises"] += [
    {"code": "REC", "name": "Magnet Recycler", "roles": ["recycling"], "approved": False},
    {"code": "TRD", "name": "Trading House", "roles": ["trading"], "approved": False},
    {"code": "SEP2", "name": "Ganzhou Separation", "group": "CREG", "roles": ["separation"],
     "approved": True},
]  # fmt: skip
TRACE_REGISTRY["sites"] += [
    {"code": "REC-P", "enterprise": "REC", "kind": "plant"},
    {"code": "TRD-W", "enterprise": "TRD", "kind": "warehouse"},
    {"code": "SEP2-P", "enterprise": "SEP2", "kind": "plant", "capacity_t": 5000},
]

#: The site each enterprise reports from.
SITE = {"MINE": "BO", "MINE2": "SC", "IMP": "PORT", "SEP": "SEP-P", "SEP2": "SEP2-P",
        "MET": "MET-P", "MAG": "MAG-P", "REC": "REC-P", "TRD": "TRD-W"}  # fmt: skip


class Chain:
    """Collects events per (enterprise, period) and submits them in one go, in order of calls."""

    def __init__(self, store: Store, tmp_path: Path) -> None:
        self.store = store
        self.tmp_path = tmp_path
        self.pending: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self.n = 0
        load_registry(store, TRACE_REGISTRY)

    def add(self, type_: str, ent: str, day: str, **kw: Any) -> str:
        self.n += 1
        eid = kw.pop("event_id", f"{ent}-{type_}-{self.n}")
        site = kw.pop("site", SITE[ent])
        self.pending[(ent, day[:7])].append(ev(eid, type_, ent, site, day, **kw))
        return eid

    def submit(self) -> None:
        for (ent, period), events in self.pending.items():
            submit_events(self.store, self.tmp_path, ent, period, events,
                          received_at="2025-12-01T10:00:00+08:00")  # fmt: skip
        self.pending.clear()

    # -- shorthands --------------------------------------------------------------------------------

    def extract(self, ent: str, day: str, lot: str, kg: float, reo: float,
                elements: dict[str, float] | None = None, form: str = "concentrate") -> str:  # fmt: skip
        return self.add("extract", ent, day, outputs=[out(lot, form, kg, reo_pct=reo, elements=elements)])

    def transfer(self, sender: str, receiver: str, day: str, src: str, dst: dict[str, Any],
                 kg: float | None = None, *, ship: bool = True) -> None:  # fmt: skip
        """``sender`` ships ``kg`` of ``src``; ``receiver`` receives it as ``dst`` (an output line)."""
        kg = dst["mass_kg"] if kg is None else kg
        if ship:
            self.add("ship", sender, day, counterparty=receiver, inputs=[inp(src, kg)])
        self.add("receive", receiver, day, counterparty=sender,
                 inputs=[inp(f"{sender}:{src}", kg)], outputs=[dst])  # fmt: skip

    def process(self, ent: str, day: str, kind: str, inputs: list[tuple[str, float]],
                outputs: list[dict[str, Any]], **kw: Any) -> str:  # fmt: skip
        return self.add("process", ent, day, process=kind,
                        inputs=[inp(lot, kg) for lot, kg in inputs], outputs=outputs, **kw)  # fmt: skip


# -- The magnet chain of the tests --------------------------------------------------------------------
#
#   MINE:ORE1 (BO) -> SEP:C1 -> separation at SEP-P -> SEP:PRND, SEP:LA, SEP:CE
#   SEP:PRND -> MET:PRND -> metal_smelting -> MET:M1 (metal) -> MAG:M1 ---------------\
#   IMP:ND (entry CE-1) -> MET:ND --\                                                    magnet_making
#   IMP:DY (entry CE-2) -> MET:DY ---> alloying -> MET:A1 (alloy) -> MAG:A1 -----------/  -> MAG:MAG1
#                                                                                          (+ MAG:SCR1)

LCPN = {"La": 25.0, "Ce": 50.0, "Pr": 6.25, "Nd": 18.75}
ALLOY = {"Nd": 85.0, "Dy": 15.0}
MAGNET = {"Pr": 7.0, "Nd": 84.0, "Dy": 9.0}


def magnet_chain(c: Chain) -> None:
    c.extract("MINE", "2025-03-02", "ORE1", 2000, 50, LCPN)
    c.transfer("MINE", "SEP", "2025-03-03", "ORE1",
               out("C1", "concentrate", 2000, reo_pct=50, elements=LCPN))  # fmt: skip
    c.process("SEP", "2025-03-05", "separation", [("C1", 2000)], [
        out("PRND", "oxide", 240, reo_pct=99, elements=PRND),
        out("LA", "oxide", 240, reo_pct=99, elements={"La": 100}),
        out("CE", "oxide", 480, reo_pct=99, elements={"Ce": 100}),
    ])  # fmt: skip
    c.transfer("SEP", "MET", "2025-03-06", "PRND", out("PRND", "oxide", 240, reo_pct=99, elements=PRND))
    c.process("MET", "2025-03-07", "metal_smelting", [("PRND", 240)],
              [out("M1", "metal", 200, re_metal_pct=99, elements=PRND)])  # fmt: skip
    for lot, entry, country, els in (("ND", "CE-1", "AU", {"Nd": 100}),
                                     ("DY", "CE-2", "MM", {"Dy": 100})):  # fmt: skip
        c.add("import", "IMP", "2025-03-04", origin={
            "customs_entry": entry, "country": country, "hs_code": "2846.90"},
            outputs=[out(lot, "oxide", 500, reo_pct=99, elements=els)])  # fmt: skip
        c.transfer("IMP", "MET", "2025-03-06", lot, out(lot, "oxide", 500, reo_pct=99, elements=els))
    c.process("MET", "2025-03-08", "alloying", [("ND", 300), ("DY", 60)],
              [out("A1", "alloy", 400, re_metal_pct=70, elements=ALLOY)])  # fmt: skip
    c.transfer("MET", "MAG", "2025-03-10", "M1", out("M1", "metal", 200, re_metal_pct=99, elements=PRND))
    c.transfer("MET", "MAG", "2025-03-10", "A1", out("A1", "alloy", 400, re_metal_pct=70, elements=ALLOY))
    c.process("MAG", "2025-03-12", "magnet_making", [("M1", 100), ("A1", 200)], [
        out("MAG1", "magnet", 700, re_metal_pct=30, elements=MAGNET),
        out("SCR1", "scrap", 50, re_metal_pct=30),
    ])  # fmt: skip

"""Builders for trace tests: a registry with a recycler, a trader and a second separator, and
small chains of events submitted per enterprise and period."""

from __future__ import annotations

import copy
from collections import defaultdict
from pathlib import Path
from typing import Any

from reetrace.store import Store
from tests.helpers import REGISTRY, ev, inp, load_registry, out, submit_events

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

PRND = {"Pr": 25.0, "Nd": 75.0}
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

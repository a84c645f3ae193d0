"""Writes the worked example of the README: one month of a mine, an importer, a separation plant,
a metal smelter and a magnet maker (run: .venv/bin/python examples/make_examples.py)."""

import json

import orjson
from pathlib import Path
from reetrace.elements import METAL_PER_OXIDE as F
ex = Path("examples")
reg = {
 "groups": [{"code": "CNRE", "name": "China Northern Rare Earth Group"},
            {"code": "CREG", "name": "China Rare Earth Group"}],
 "enterprises": [
  {"code": "NMMINE", "name": "Bayan Obo Mining Co.", "group": "CNRE", "province": "Inner Mongolia", "roles": ["mining"], "approved": True},
  {"code": "GXIMP", "name": "Guangxi RE Import & Trade", "group": "CREG", "province": "Guangxi", "roles": ["import", "trading"], "approved": True},
  {"code": "NMSEP", "name": "Baotou Separation Co.", "group": "CNRE", "province": "Inner Mongolia", "roles": ["separation"], "approved": True},
  {"code": "NBMET", "name": "Ningbo RE Metals", "province": "Zhejiang", "roles": ["metal_smelting"], "approved": False},
  {"code": "NBMAG", "name": "Ningbo Magnetics", "province": "Zhejiang", "roles": ["magnet_making", "export"], "approved": False}],
 "sites": [
  {"code": "BO-MINE", "enterprise": "NMMINE", "kind": "mine", "licence": "C1500002009"},
  {"code": "FCG-PORT", "enterprise": "GXIMP", "kind": "port"},
  {"code": "BT-SEP", "enterprise": "NMSEP", "kind": "plant", "capacity_t": 20000},
  {"code": "NB-MET", "enterprise": "NBMET", "kind": "plant"},
  {"code": "NB-MAG", "enterprise": "NBMAG", "kind": "plant"}],
 "quotas": [
  {"year": 2025, "batch": 1, "holder": "CNRE", "category": "mining", "tonnes_reo": 94580},
  {"year": 2025, "batch": 1, "holder": "CNRE", "category": "separation", "tonnes_reo": 88010},
  {"year": 2025, "batch": 1, "holder": "CREG", "category": "mining", "tonnes_reo": 40420},
  {"year": 2025, "batch": 1, "holder": "CREG", "category": "separation", "tonnes_reo": 38990}]}
(ex/"registry.json").write_text(json.dumps(reg, indent=1, ensure_ascii=False) + "\n")
BO = {"La": 23.0, "Ce": 50.0, "Pr": 6.2, "Nd": 18.5, "Sm": 0.8, "Eu": 0.2, "Gd": 0.7, "Tb": 0.1, "Dy": 0.1, "Y": 0.4}
MY = {"La": 22.0, "Ce": 4.0, "Pr": 5.0, "Nd": 19.0, "Sm": 4.0, "Eu": 0.8, "Gd": 5.0, "Tb": 0.9, "Dy": 5.5, "Ho": 2.0, "Er": 3.0, "Tm": 0.5, "Yb": 1.5, "Lu": 0.1, "Y": 26.7}
s = sum(MY.values()); MY = {k: round(v*100/s, 2) for k,v in MY.items()}
def T(d, h=10): return f"2025-03-{d:02d}T{h:02d}:00:00+08:00"
W = lambda ent, evs: (ex/f"{ent}-2025-03.jsonl").write_bytes(b"".join(orjson.dumps(e)+b"\n" for e in evs))
# mine: 200 t concentrate at 50% REO -> 100 t REO
W("NMMINE", [
 {"event_id": "NMMINE-0301", "type": "extract", "enterprise": "NMMINE", "site": "BO-MINE", "occurred_at": T(3),
  "outputs": [{"lot": "BOC-2503-01", "product": "Bayan Obo concentrate", "form": "concentrate", "mass_kg": 200000, "reo_pct": 50, "elements": BO}]},
 {"event_id": "NMMINE-0302", "type": "ship", "enterprise": "NMMINE", "site": "BO-MINE", "occurred_at": T(5), "counterparty": "NMSEP",
  "inputs": [{"lot": "BOC-2503-01", "mass_kg": 200000}], "documents": {"waybill": "WB-88121", "invoice": "INV-2503-17"}}])
W("GXIMP", [
 {"event_id": "GX-25-0311", "type": "import", "enterprise": "GXIMP", "site": "FCG-PORT", "occurred_at": T(2),
  "origin": {"customs_entry": "530420250311001", "country": "MM", "hs_code": "2846.90"},
  "outputs": [{"lot": "MM-ION-0311", "product": "Myanmar mixed RE oxide", "form": "mixed_compound", "mass_kg": 10000, "reo_pct": 92, "elements": MY}]},
 {"event_id": "GX-25-0312", "type": "ship", "enterprise": "GXIMP", "site": "FCG-PORT", "occurred_at": T(6), "counterparty": "NMSEP",
  "inputs": [{"lot": "MM-ION-0311", "mass_kg": 10000}], "documents": {"waybill": "WB-GX-4410"}}])
# separation: feed A (100,000 kg REO BO) and feed B (9,200 kg REO MY), separated separately, recovery ~95%
def split(reo_in, prof, groups, rec):
    outs=[]
    for lot, product, els in groups:
        share = sum(prof.get(e,0) for e in els)
        reo = reo_in*share/100*rec
        outs.append({"lot": lot, "product": product, "form": "oxide", "mass_kg": round(reo/0.99, 1), "reo_pct": 99.0,
                     "elements": {e: round(prof[e]*100/share, 3) for e in els if prof.get(e)}})
    return outs
sepA = split(100000, BO, [("PRND-2503-A", "PrNd oxide", ["Pr","Nd"]), ("LACE-2503-A", "La-Ce oxide", ["La","Ce"]),
                          ("SEG-2503-A", "SEG oxide", ["Sm","Eu","Gd","Tb","Dy","Y"])], 0.95)
sepB = split(9200, MY, [("DY-2503-B", "Dy oxide", ["Dy"]), ("TB-2503-B", "Tb oxide", ["Tb"]), ("Y-2503-B", "Y oxide", ["Y"]),
                        ("PRND-2503-B", "PrNd oxide", ["Pr","Nd"]), ("LREO-2503-B", "La-Ce-Sm-Gd oxide", ["La","Ce","Sm","Eu","Gd","Ho","Er","Tm","Yb","Lu"])], 0.95)
for o in sepA+sepB:
    # normalise rounded shares to sum to 100 exactly enough
    t=sum(o["elements"].values()); o["elements"]={k: round(v*100/t,3) for k,v in o["elements"].items()}
prnd = sepA[0]; dy = sepB[0]
W("NMSEP", [
 {"event_id": "SEP-0307", "type": "receive", "enterprise": "NMSEP", "site": "BT-SEP", "occurred_at": T(7), "counterparty": "NMMINE",
  "inputs": [{"lot": "NMMINE:BOC-2503-01", "mass_kg": 200000}], "documents": {"waybill": "WB-88121", "invoice": "INV-2503-17"},
  "outputs": [{"lot": "FEED-2503-A", "product": "Bayan Obo concentrate", "form": "concentrate", "mass_kg": 200000, "reo_pct": 50, "elements": BO}]},
 {"event_id": "SEP-0308", "type": "receive", "enterprise": "NMSEP", "site": "BT-SEP", "occurred_at": T(8), "counterparty": "GXIMP",
  "inputs": [{"lot": "GXIMP:MM-ION-0311", "mass_kg": 10000}], "documents": {"waybill": "WB-GX-4410"},
  "outputs": [{"lot": "FEED-2503-B", "product": "Myanmar mixed RE oxide", "form": "mixed_compound", "mass_kg": 10000, "reo_pct": 92, "elements": MY}]},
 {"event_id": "SEP-0312", "type": "process", "process": "separation", "enterprise": "NMSEP", "site": "BT-SEP", "occurred_at": T(12),
  "inputs": [{"lot": "FEED-2503-A", "mass_kg": 200000}], "outputs": sepA},
 {"event_id": "SEP-0313", "type": "process", "process": "separation", "enterprise": "NMSEP", "site": "BT-SEP", "occurred_at": T(13),
  "inputs": [{"lot": "FEED-2503-B", "mass_kg": 10000}], "outputs": sepB},
 {"event_id": "SEP-0315", "type": "ship", "enterprise": "NMSEP", "site": "BT-SEP", "occurred_at": T(15), "counterparty": "NBMET",
  "inputs": [{"lot": "PRND-2503-A", "mass_kg": 6000}, {"lot": "DY-2503-B", "mass_kg": 400}], "documents": {"waybill": "WB-BT-0315"}}])
# metal: 6000 kg PrNd oxide (99% REO) -> PrNd metal ~ 6000*0.99*0.96*0.85 ; Dy oxide 400 -> DyFe alloy 80% Dy metal
prnd_els = prnd["elements"]
prnd_metal = round(sum(6000*0.99*0.96*v/100*F[k] for k,v in prnd_els.items())/0.995, 1)
dyfe = round(400*0.99*0.96*0.8713/0.80, 1)
# Metal-basis shares: an element's share of the metal is its oxide share times its metal/oxide factor.
_mb = {k: v*F[k] for k,v in prnd_els.items()}
prnd_metal_els = {k: round(v*100/sum(_mb.values()), 3) for k,v in _mb.items()}
W("NBMET", [
 {"event_id": "MET-0316", "type": "receive", "enterprise": "NBMET", "site": "NB-MET", "occurred_at": T(16), "counterparty": "NMSEP",
  "inputs": [{"lot": "NMSEP:PRND-2503-A", "mass_kg": 6000}], "documents": {"waybill": "WB-BT-0315"},
  "outputs": [{"lot": "IN-PRND-16", "product": "PrNd oxide", "form": "oxide", "mass_kg": 6000, "reo_pct": 99.0, "elements": prnd_els}]},
 {"event_id": "MET-0317", "type": "receive", "enterprise": "NBMET", "site": "NB-MET", "occurred_at": T(16, 11), "counterparty": "NMSEP",
  "inputs": [{"lot": "NMSEP:DY-2503-B", "mass_kg": 400}], "documents": {"waybill": "WB-BT-0315"},
  "outputs": [{"lot": "IN-DY-16", "product": "Dy oxide", "form": "oxide", "mass_kg": 400, "reo_pct": 99.0, "elements": dy["elements"]}]},
 {"event_id": "MET-0318", "type": "process", "process": "metal_smelting", "enterprise": "NBMET", "site": "NB-MET", "occurred_at": T(18),
  "inputs": [{"lot": "IN-PRND-16", "mass_kg": 6000}],
  "outputs": [{"lot": "PRNDM-2503-01", "product": "PrNd metal", "form": "metal", "mass_kg": prnd_metal, "re_metal_pct": 99.5, "elements": prnd_metal_els}]},
 {"event_id": "MET-0319", "type": "process", "process": "alloying", "enterprise": "NBMET", "site": "NB-MET", "occurred_at": T(19),
  "inputs": [{"lot": "IN-DY-16", "mass_kg": 400}],
  "outputs": [{"lot": "DYFE-2503-01", "product": "Dy-Fe alloy", "form": "alloy", "mass_kg": dyfe, "re_metal_pct": 80.0, "elements": {"Dy": 100}}]},
 {"event_id": "MET-0320", "type": "ship", "enterprise": "NBMET", "site": "NB-MET", "occurred_at": T(20), "counterparty": "NBMAG",
  "inputs": [{"lot": "PRNDM-2503-01", "mass_kg": prnd_metal}, {"lot": "DYFE-2503-01", "mass_kg": dyfe}], "documents": {"waybill": "WB-NB-0320"}}])
# magnets: ~31% RE metal; inputs metal PrNd prnd_metal*0.995 RE metal, DyFe dyfe*0.8
re_metal = prnd_metal*0.995 + dyfe*0.8
mag_mass = round(re_metal*0.97/0.31, 1)
nd_share = {k: v*prnd_metal*0.995/re_metal for k,v in prnd_metal_els.items()}
mag_els = {**{k: round(v,3) for k,v in nd_share.items()}, "Dy": round(100*dyfe*0.8/re_metal,3)}
W("NBMAG", [
 {"event_id": "MAG-0321", "type": "receive", "enterprise": "NBMAG", "site": "NB-MAG", "occurred_at": T(21), "counterparty": "NBMET",
  "inputs": [{"lot": "NBMET:PRNDM-2503-01", "mass_kg": prnd_metal}], "documents": {"waybill": "WB-NB-0320"},
  "outputs": [{"lot": "IN-M-21", "product": "PrNd metal", "form": "metal", "mass_kg": prnd_metal, "re_metal_pct": 99.5, "elements": prnd_metal_els}]},
 {"event_id": "MAG-0322", "type": "receive", "enterprise": "NBMAG", "site": "NB-MAG", "occurred_at": T(21, 11), "counterparty": "NBMET",
  "inputs": [{"lot": "NBMET:DYFE-2503-01", "mass_kg": dyfe}], "documents": {"waybill": "WB-NB-0320"},
  "outputs": [{"lot": "IN-D-21", "product": "Dy-Fe alloy", "form": "alloy", "mass_kg": dyfe, "re_metal_pct": 80.0, "elements": {"Dy": 100}}]},
 {"event_id": "MAG-0325", "type": "process", "process": "magnet_making", "enterprise": "NBMAG", "site": "NB-MAG", "occurred_at": T(25),
  "inputs": [{"lot": "IN-M-21", "mass_kg": prnd_metal}, {"lot": "IN-D-21", "mass_kg": dyfe}],
  "outputs": [{"lot": "MAG-2503-0042", "product": "sintered NdFeB N52SH", "form": "magnet", "mass_kg": mag_mass, "re_metal_pct": 31.0, "elements": mag_els}]},
 {"event_id": "MAG-0328", "type": "export", "enterprise": "NBMAG", "site": "NB-MAG", "occurred_at": T(28),
  "destination": {"country": "DE", "customs_entry": "310120250328117"}, "inputs": [{"lot": "MAG-2503-0042", "mass_kg": round(mag_mass*0.6,1)}]}])
print(prnd_metal, dyfe, mag_mass, mag_els)

"""Writes the foreign-provenance example of the README: a Malaysian supplier's EPCIS document
(MY-supplier.jsonld) and the April 2025 Chinese chain its shipment enters, from GXIMP's customs entry
through NMSEP's separation plant and NBMET's smelter to an NBMAG magnet (and NMMINE's nil report)
(run: .venv/bin/python examples/epcis/make_my_example.py).

The companies and places abroad are invented; the GS1 keys use GS1 Malaysia's prefix range (955) with
made-up company prefixes. Masses are plausible for ionic-clay rare earths: about 0.12 % REO in the clay,
a mixed rare earth carbonate (MREC) of 56 % REO, yttrium and the heavy elements well represented.
"""

import json
from pathlib import Path

import orjson

from reetrace.elements import METAL_PER_OXIDE as F

ex = Path(__file__).resolve().parent
ENTRY = "530420250402007"


def T(d: int, h: int = 10) -> str:
    return f"2025-04-{d:02d}T{h:02d}:00:00+08:00"


# Ionic-clay MREC: % of its REO.
mrec = {"La": 20.0, "Ce": 2.0, "Pr": 5.5, "Nd": 20.0, "Sm": 4.5, "Eu": 0.5, "Gd": 5.5, "Tb": 1.0,
        "Dy": 6.0, "Ho": 1.5, "Er": 3.5, "Tm": 0.5, "Yb": 2.5, "Lu": 0.5, "Y": 26.5}
MREC_KG, MREC_REO = 30000, 56.0
reo_in = MREC_KG * MREC_REO / 100
REC = 0.95


def oxide(lot: str, product: str, els: list[str]) -> dict:
    part = sum(mrec[e] for e in els)
    reo = reo_in * part / 100 * REC
    shares = {e: round(mrec[e] * 100 / part, 3) for e in els}
    return {"lot": lot, "product": product, "form": "oxide", "mass_kg": round(reo / 0.99, 1), "reo_pct": 99.0,
            "elements": shares}


prnd = oxide("PRND-2504-M", "PrNd oxide", ["Pr", "Nd"])
dy = oxide("DY-2504-M", "Dy oxide", ["Dy"])
y = oxide("Y-2504-M", "Y oxide", ["Y"])
rest = oxide("LHREO-2504-M", "La-Sm-Gd-Ho-Er oxide",
             ["La", "Ce", "Sm", "Eu", "Gd", "Tb", "Ho", "Er", "Tm", "Yb", "Lu"])
mrec_line = {"product": "Malaysian mixed RE carbonate (MREC)", "form": "mixed_compound", "mass_kg": MREC_KG,
             "reo_pct": MREC_REO, "elements": mrec}

prnd_ship = 4000.0
mb = {k: v * F[k] for k, v in prnd["elements"].items()}
metal_els = {k: round(v * 100 / sum(mb.values()), 3) for k, v in mb.items()}
metal = round(sum(prnd_ship * 0.99 * 0.96 * v / 100 * F[k] for k, v in prnd["elements"].items()) / 0.995, 1)
magnet = round(metal * 0.995 * 0.97 / 0.31, 1)
metal_line = {"product": "PrNd metal", "form": "metal", "mass_kg": metal, "re_metal_pct": 99.5,
              "elements": metal_els}

files = {
    "GXIMP": [
        {"event_id": "GX-25-0402", "type": "import", "enterprise": "GXIMP", "site": "FCG-PORT", "occurred_at": T(2),
         "origin": {"customs_entry": ENTRY, "country": "MY", "hs_code": "2846.90"},
         "documents": {"bill_of_lading": "PKG-FCG-250318-07"},
         "outputs": [{"lot": "MY-MREC-0402", **mrec_line}]},
        {"event_id": "GX-25-0404", "type": "ship", "enterprise": "GXIMP", "site": "FCG-PORT", "occurred_at": T(4),
         "counterparty": "NMSEP", "inputs": [{"lot": "MY-MREC-0402", "mass_kg": MREC_KG}],
         "documents": {"waybill": "WB-GX-4502"}},
    ],
    "NMSEP": [
        {"event_id": "SEP-0406", "type": "receive", "enterprise": "NMSEP", "site": "BT-SEP", "occurred_at": T(6),
         "counterparty": "GXIMP", "inputs": [{"lot": "GXIMP:MY-MREC-0402", "mass_kg": MREC_KG}],
         "documents": {"waybill": "WB-GX-4502"}, "outputs": [{"lot": "FEED-2504-M", **mrec_line}]},
        {"event_id": "SEP-0410", "type": "process", "process": "separation", "enterprise": "NMSEP", "site": "BT-SEP",
         "occurred_at": T(10), "inputs": [{"lot": "FEED-2504-M", "mass_kg": MREC_KG}],
         "outputs": [prnd, dy, y, rest]},
        {"event_id": "SEP-0414", "type": "ship", "enterprise": "NMSEP", "site": "BT-SEP", "occurred_at": T(14),
         "counterparty": "NBMET", "inputs": [{"lot": "PRND-2504-M", "mass_kg": prnd_ship}],
         "documents": {"waybill": "WB-BT-0414"}},
    ],
    "NBMET": [
        {"event_id": "MET-0415", "type": "receive", "enterprise": "NBMET", "site": "NB-MET", "occurred_at": T(15),
         "counterparty": "NMSEP", "inputs": [{"lot": "NMSEP:PRND-2504-M", "mass_kg": prnd_ship}],
         "documents": {"waybill": "WB-BT-0414"},
         "outputs": [{**prnd, "lot": "IN-PRND-15M", "mass_kg": prnd_ship}]},
        {"event_id": "MET-0417", "type": "process", "process": "metal_smelting", "enterprise": "NBMET",
         "site": "NB-MET", "occurred_at": T(17), "inputs": [{"lot": "IN-PRND-15M", "mass_kg": prnd_ship}],
         "outputs": [{"lot": "PRNDM-2504-M", **metal_line}]},
        {"event_id": "MET-0418", "type": "ship", "enterprise": "NBMET", "site": "NB-MET", "occurred_at": T(18),
         "counterparty": "NBMAG", "inputs": [{"lot": "PRNDM-2504-M", "mass_kg": metal}],
         "documents": {"waybill": "WB-NB-0418"}},
    ],
    "NBMAG": [
        {"event_id": "MAG-0419", "type": "receive", "enterprise": "NBMAG", "site": "NB-MAG", "occurred_at": T(19),
         "counterparty": "NBMET", "inputs": [{"lot": "NBMET:PRNDM-2504-M", "mass_kg": metal}],
         "documents": {"waybill": "WB-NB-0418"}, "outputs": [{"lot": "IN-M-19", **metal_line}]},
        {"event_id": "MAG-0423", "type": "process", "process": "magnet_making", "enterprise": "NBMAG",
         "site": "NB-MAG", "occurred_at": T(23), "inputs": [{"lot": "IN-M-19", "mass_kg": metal}],
         "outputs": [{"lot": "MAG-2504-0007", "product": "sintered NdFeB N48", "form": "magnet",
                      "mass_kg": magnet, "re_metal_pct": 31.0, "elements": metal_els}]},
    ],
}
files["NMMINE"] = []  # the mine had no April flows: a nil report
for ent, evs in files.items():
    (ex / f"{ent}-2025-04.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in evs))

# The supplier's own EPCIS 2.0 document: its mine, its leaching plant, a purchase it cannot trace, the
# transformation into MREC with masses, the bagging (an aggregation: no mass moves) and the shipment.
CTX = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
       {"kmr": "https://kinta-mineral.example/epcis/"}]
MINE = "urn:epc:id:sgln:9551234.00010.0"      # Bukit Merah ionic-clay mine, Perak (invented)
PLANT = "urn:epc:id:sgln:9551234.00020.0"     # leaching and precipitation plant, Perak (invented)
PORT = "urn:epc:id:sgln:9551234.00090.0"      # the supplier's berth at Port Klang (invented)
ORE = "urn:epc:class:lgtin:9551234.000011.KMR-ORE-2502"
BOUGHT = "urn:epc:class:lgtin:9551234.000011.TRD-ORE-2502-K"
OUT = "urn:epc:class:lgtin:9551234.000028.KMR-MREC-2503-07"
SELLER = "urn:epc:id:pgln:9551234.00001"
BUYER = "urn:reetrace:party:GXIMP"
ore_t, bought_t = 16000, 4000
doc = {
    "@context": CTX, "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2025-03-20T09:00:00+08:00",
    "epcisBody": {"eventList": [
        {"type": "ObjectEvent", "eventTime": "2025-02-12T07:30:00+08:00", "eventTimeZoneOffset": "+08:00",
         "action": "ADD", "bizStep": "commissioning", "disposition": "active",
         "readPoint": {"id": MINE}, "bizLocation": {"id": MINE},
         "quantityList": [{"epcClass": ORE, "quantity": ore_t, "uom": "TNE"}],
         "ilmd": {"cbvmda:countryOfOrigin": "MY", "cbvmda:lotNumber": "KMR-ORE-2502",
                  "kmr:mineLicence": "PK-ML-2019-0117", "kmr:reoGradePct": 0.12}},
        {"type": "ObjectEvent", "eventTime": "2025-02-20T10:00:00+08:00", "eventTimeZoneOffset": "+08:00",
         "action": "OBSERVE", "bizStep": "receiving", "disposition": "in_progress",
         "readPoint": {"id": PLANT}, "bizLocation": {"id": PLANT},
         "quantityList": [{"epcClass": BOUGHT, "quantity": bought_t, "uom": "TNE"}],
         "sourceList": [{"type": "owning_party", "source": "urn:epc:id:pgln:9559876.00001"}]},
        {"type": "TransformationEvent", "eventTime": "2025-03-10T18:00:00+08:00", "eventTimeZoneOffset": "+08:00",
         "bizStep": "commissioning", "disposition": "active", "readPoint": {"id": PLANT}, "bizLocation": {"id": PLANT},
         "inputQuantityList": [{"epcClass": ORE, "quantity": ore_t, "uom": "TNE"},
                               {"epcClass": BOUGHT, "quantity": bought_t, "uom": "TNE"}],
         "outputQuantityList": [{"epcClass": OUT, "quantity": MREC_KG, "uom": "KGM"}],
         "ilmd": {"cbvmda:lotNumber": "KMR-MREC-2503-07", "kmr:reoPct": MREC_REO}},
        {"type": "AggregationEvent", "eventTime": "2025-03-12T09:00:00+08:00", "eventTimeZoneOffset": "+08:00",
         "action": "ADD", "bizStep": "packing", "disposition": "in_progress", "readPoint": {"id": PLANT},
         "parentID": "urn:epc:id:sscc:9551234.0000000701",
         "childQuantityList": [{"epcClass": OUT, "quantity": MREC_KG, "uom": "KGM"}]},
        {"type": "ObjectEvent", "eventTime": "2025-03-18T16:00:00+08:00", "eventTimeZoneOffset": "+08:00",
         "action": "OBSERVE", "bizStep": "shipping", "disposition": "in_transit", "readPoint": {"id": PORT},
         "quantityList": [{"epcClass": OUT, "quantity": MREC_KG, "uom": "KGM"}],
         "bizTransactionList": [{"type": "bol", "bizTransaction": "urn:reetrace:doc:bill_of_lading:PKG-FCG-250318-07"}],
         "sourceList": [{"type": "owning_party", "source": SELLER}],
         "destinationList": [{"type": "owning_party", "destination": BUYER}]},
    ]},
}
(ex / "MY-supplier.jsonld").write_text(json.dumps(doc, indent=1) + "\n")
print(prnd["mass_kg"], metal, magnet)

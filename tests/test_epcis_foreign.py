"""Foreign documents: every event of GS1's examples is accepted into a provenance chain or refused with a
reason; none raises. Masses are converted to kilograms, counts are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from reetrace.epcis import document, parse_document, parse_foreign
from reetrace.epcis.foreign import Quantity
from tests.epcis_helpers import DATA, example_events

EXAMPLES = sorted((DATA / "examples").glob("*.jsonld"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_gs1_example_event_is_accepted_or_refused_with_a_reason(path: Path) -> None:
    raw = path.read_bytes()
    n = len(orjson.loads(raw)["epcisBody"]["eventList"])
    chain = parse_foreign(raw)
    assert chain.accepted + len(chain.refused) == n
    assert all(r.reason for r in chain.refused)
    # Not our mapping: as reetrace events, each is refused with problems, never an exception.
    results = parse_document(raw)
    assert len(results) == n
    assert all(isinstance(r, list) and r for _, r in results)


def test_what_gs1_examples_give() -> None:
    got = {p.name: parse_foreign(p.read_bytes()) for p in EXAMPLES}
    fixed = got["ErrorDeclarationAndCorrectiveEvent.jsonld"]
    assert "declared in error (incorrect_data)" in fixed.refused[0].reason
    assert fixed.edges() == [
        ("urn:epc:class:lgtin:4012345.022222.87545GHGH", "urn:epc:idpat:sgtin:4012345.044444.*", 1)
    ]
    assert got["Example_9.6.2-ObjectEvent.jsonld"].custody[0].lots == (
        Quantity("urn:epc:class:lgtin:4012345.012345.998877", 200.0),
    )
    assert "no uom" in got["Example_9.6.4-TransformationEvent.jsonld"].refused[0].reason
    assert "no quantities" in got["Example_9.6.1-ObjectEvent.jsonld"].refused[0].reason
    assert "moves no mass" in got["Example_9.6.3-AggregationEvent.jsonld"].refused[0].reason


def _doc(*events: dict[str, Any]) -> dict[str, Any]:
    return {"type": "EPCISDocument", "epcisBody": {"eventList": list(events)}}


def test_a_supplier_chain_from_mine_to_oxide() -> None:
    mine = {
        "type": "ObjectEvent",
        "action": "ADD",
        "bizStep": "urn:epcglobal:cbv:bizstep:commissioning",
        "eventTime": "2025-01-02T00:00:00Z",
        "readPoint": {"id": "urn:epc:id:sgln:0614141.00001.0"},
        "quantityList": [{"epcClass": "urn:x:ore:1", "quantity": 12.5, "uom": "TNE"}],
        "ilmd": {"cbvmda:countryOfOrigin": "MM"},
    }
    plant = {
        "type": "TransformationEvent",
        "bizStep": "commissioning",
        "eventTime": "2025-01-09T00:00:00Z",
        "inputQuantityList": [{"epcClass": "urn:x:ore:1", "quantity": 12500, "uom": "KGM"}],
        "outputQuantityList": [
            {"epcClass": "urn:x:ox:1", "quantity": 2204.6, "uom": "LBR"},
            {"epcClass": "urn:x:ox:2", "quantity": 5, "uom": "EA"},
        ],
    }
    plant2 = {**plant, "outputQuantityList": plant["outputQuantityList"][:1]}
    sensor = {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "eventTime": "2025-01-09T00:00:00Z",
        "epcList": ["urn:epc:id:sgtin:1.2.3"],
    }
    chain = parse_foreign(orjson.dumps(_doc(mine, plant, plant2, sensor, 7)))  # fmt: skip
    assert chain.origins[0].lots == (Quantity("urn:x:ore:1", 12500.0),)
    assert chain.origins[0].ilmd == {"cbvmda:countryOfOrigin": "MM"}
    assert chain.edges() == [("urn:x:ore:1", "urn:x:ox:1", 2)]
    assert chain.transformations[0].outputs[0].kg == pytest.approx(1000.0, rel=1e-4)
    assert [(r.index, r.reason) for r in chain.refused] == [
        (1, "outputQuantityList[1]: uom 'EA' is not a mass"),
        (3, "no quantities: a trace needs masses (1 EPC instance(s) carry none)"),
        (4, "not an event object"),
    ]
    assert chain.lots() == {"urn:x:ore:1", "urn:x:ox:1"}


def test_our_own_exports_read_as_a_foreign_chain() -> None:
    events = example_events()
    chain = parse_foreign(orjson.dumps(document(events)))
    sep = next(i for i, e in enumerate(events) if e.event_id == "SEP-0312")
    assert not chain.refused
    assert len(chain.origins) == 2  # the Bayan Obo extract and the Myanmar import
    assert ("urn:reetrace:lot:NMSEP:FEED-2503-A", "urn:reetrace:lot:NMSEP:PRND-2503-A", sep) in chain.edges()


def test_not_a_document_raises_value_error() -> None:
    with pytest.raises(ValueError):
        parse_foreign(b'{"type": "ObjectEvent"}')

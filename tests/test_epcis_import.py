"""Import of documents that follow the mapping: every problem names the event index and the field path."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from reetrace.epcis import document, parse_document
from reetrace.errors import InputError, Problem
from reetrace.models import Event
from tests.epcis_helpers import example_events


def _doc() -> dict[str, Any]:
    return document(example_events())


def _problems(doc: dict[str, Any], **kw: Any) -> dict[int, list[Problem]]:
    return {i: r for i, r in parse_document(orjson.dumps(doc), **kw) if isinstance(r, list)}


def _event(doc: dict[str, Any], kind: str) -> tuple[int, dict[str, Any]]:
    for i, e in enumerate(doc["epcisBody"]["eventList"]):
        if e["reetrace:eventType"] == kind:
            return i, e
    raise AssertionError(kind)


def test_a_clean_document_has_no_problems() -> None:
    assert _problems(_doc()) == {}


def test_every_problem_of_every_event_is_reported_with_index_and_path() -> None:
    doc = _doc()
    i, proc = _event(doc, "process")
    del proc["inputQuantityList"][0]["quantity"]
    proc["outputQuantityList"][0]["uom"] = "EA"
    j, ship = _event(doc, "ship")
    ship["bizStep"] = "https://ref.gs1.org/cbv/BizStep-dancing"
    k, imp = _event(doc, "import")
    imp["quantityList"][0]["epcClass"] = "urn:epc:class:lgtin:4012345.012345.998877"
    problems = _problems(doc)
    assert set(problems) == {i, j, k}
    assert [(p.line, p.field) for p in problems[i]] == [
        (i + 1, f"eventList[{i}].inputQuantityList[0].quantity"),
        (i + 1, f"eventList[{i}].outputQuantityList[0].uom"),
    ]
    assert "not a mass unit" in problems[i][1].reason
    assert problems[j][0].field == f"eventList[{j}].bizStep" and "'dancing'" in problems[j][0].reason
    assert problems[k][0].field == f"eventList[{k}].quantityList[0].epcClass"
    assert "not a reetrace lot URI" in problems[k][0].reason


def test_contract_rules_come_back_with_epcis_paths() -> None:
    doc = _doc()
    i, proc = _event(doc, "process")
    proc["ilmd"]["reetrace:lot"][0]["reetrace:form"] = "gas"
    proc["ilmd"]["reetrace:lot"][0]["reetrace:elements"]["reetrace:Nd"] = 1.0
    j, ext = _event(doc, "extract")
    ext["quantityList"][0]["quantity"] = -5
    problems = _problems(doc)
    fields = {p.field for p in problems[i]}
    assert f"eventList[{i}].ilmd.reetrace:lot[0].reetrace:form" in fields
    assert f"eventList[{i}].ilmd.reetrace:lot[0].reetrace:elements" in fields
    assert [p.field for p in problems[j]] == [f"eventList[{j}].quantityList[0].quantity"]


def test_mixed_enterprises_are_refused() -> None:
    doc = _doc()
    i, ext = _event(doc, "extract")
    ext["quantityList"][0]["epcClass"] = ext["ilmd"]["reetrace:lot"][0]["reetrace:epcClass"] = (
        "urn:reetrace:lot:OTHER:BOC-2503-01"
    )
    problems = _problems(doc)
    assert "not a lot of NMMINE" in problems[i][0].reason
    # A submission is one enterprise's file: every other reporter is named.
    only = _problems(_doc(), enterprise="NMSEP")
    assert only and all(p.field.endswith("reetrace:reporter") for ps in only.values() for p in ps)
    assert len(only) == sum(1 for e in example_events() if e.enterprise != "NMSEP")


def test_missing_quantities_and_lot_master_data() -> None:
    doc = _doc()
    i, rcv = _event(doc, "receive")
    rcv["inputQuantityList"] = []
    del rcv["ilmd"]
    j, ship = _event(doc, "ship")
    del ship["quantityList"][0]["uom"]
    problems = _problems(doc)
    assert [p.field for p in problems[i]] == [f"eventList[{i}].inputQuantityList", f"eventList[{i}].ilmd"]
    assert "masses" in problems[i][0].reason
    assert problems[j][0].field == f"eventList[{j}].quantityList[0].uom"
    assert "count" in problems[j][0].reason


def test_other_mass_units_are_converted() -> None:
    doc = _doc()
    i, ship = _event(doc, "ship")
    kg = ship["quantityList"][0]["quantity"]
    ship["quantityList"][0].update(quantity=kg / 1000, uom="TNE")
    ev = parse_document(doc)[i][1]
    assert isinstance(ev, Event) and ev.inputs[0].mass_kg == pytest.approx(kg)


def test_event_type_must_fit_the_cbv_shape_and_is_inferred_without_it() -> None:
    doc = _doc()
    i, ship = _event(doc, "ship")
    ship["reetrace:eventType"] = "receive"
    assert _problems(doc)[i][0].field == f"eventList[{i}].reetrace:eventType"
    bare = copy.deepcopy(_doc())
    for e in bare["epcisBody"]["eventList"]:
        del e["reetrace:eventType"]
    assert _problems(bare) == {}
    assert [r.type for _, r in parse_document(bare) if isinstance(r, Event)] == [
        e.type for e in example_events()
    ]


def test_foreign_shapes_and_bad_times_are_refused() -> None:
    doc = _doc()
    events = doc["epcisBody"]["eventList"]
    events[0]["type"] = "AggregationEvent"
    events[1]["eventTime"] = "yesterday"
    events[2] = "not an event"
    problems = _problems(doc)
    assert problems[0][0].field == "eventList[0].type"
    assert problems[1][0].field == "eventList[1].eventTime"
    assert problems[2][0].field == "eventList[2]"


def test_unreadable_documents_raise_input_error() -> None:
    for bad in (b"{", b"[]", orjson.dumps({"type": "EPCISDocument", "epcisBody": {}})):
        with pytest.raises(InputError):
            parse_document(bad)

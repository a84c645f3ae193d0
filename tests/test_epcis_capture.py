"""The EPCIS REST bindings as library functions (for the HTTP service to mount): capture with rollback
semantics answering a capture job, and the SimpleEventQuery subset under the principal's visibility."""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa

import reetrace
from reetrace.store import Store, open_store
from reetrace.store.schema import log
from tests.epcis_helpers import REPO, schema

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

EX = REPO / "examples"
RECEIVED = datetime.fromisoformat("2025-04-09T17:00:00+08:00")


def _source(tmp_path: Any) -> Store:
    src = open_store(f"sqlite:///{tmp_path / 'src.db'}")
    reetrace.load_registry(src, reetrace.parse_registry(str(EX / "registry.json")))
    for ent in ("NMMINE", "GXIMP", "NMSEP", "NBMET", "NBMAG"):
        reetrace.submit(src, str(EX / f"{ent}-2025-03.jsonl"), enterprise=ent, period="2025-03",
                        received_at=RECEIVED)  # fmt: skip
    return src


def _doc(src: Store, ent: str) -> dict[str, Any]:
    buf = io.BytesIO()
    reetrace.export_epcis(src, buf, enterprise=ent, period="2025-03")
    out: dict[str, Any] = json.loads(buf.getvalue())
    return out


def _positions(store: Store) -> int:
    with store.reading() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(log)).scalar_one())


def test_capture_is_a_submission_with_rollback(store: Store, tmp_path: Any) -> None:
    src = _source(tmp_path)
    reetrace.load_registry(store, reetrace.parse_registry(str(EX / "registry.json")))
    for ent in ("NMMINE", "GXIMP"):
        job = reetrace.capture_epcis(store, _doc(src, ent), principal=ent, received_at=RECEIVED)
        assert job.success and job.status == 201, job.errors
    sep = _doc(src, "NMSEP")
    bad = json.loads(json.dumps(sep))
    bad["epcisBody"]["eventList"][2]["inputQuantityList"][0]["uom"] = "EA"
    before = _positions(store)
    job = reetrace.capture_epcis(store, bad, principal="NMSEP", capture_id="c-1")
    d = job.to_dict()
    assert (d["success"], d["running"], d["captureErrorBehaviour"], job.status) == (
        False,
        False,
        "rollback",
        400,
    )
    assert d["errors"] == [{
        "type": "epcisException:ValidationException", "title": "'EA' is not a mass unit (expected KGM)",
        "status": 400, "detail": "eventList[2].inputQuantityList[0].uom: 'EA' is not a mass unit (expected KGM)",
        "instance": "#/epcisBody/eventList/2",
    }]  # fmt: skip
    assert _positions(store) == before
    # Someone else's events: refused, by event.
    job = reetrace.capture_epcis(store, sep, principal="NBMAG")
    assert not job.success and all(e["instance"].startswith("#/epcisBody/eventList/") for e in job.errors)
    job = reetrace.capture_epcis(store, sep, principal="NOBODY")
    assert (job.success, job.status) == (False, 403)
    job = reetrace.capture_epcis(store, b"{", principal="NMSEP")
    assert (job.success, job.status) == (False, 400)
    job = reetrace.capture_epcis(store, sep, principal="NMSEP", capture_id="c-2")
    assert job.success and job.new_events == 5 and job.to_dict()["captureID"] == "c-2"
    env = [json.loads(bytes(b))["record"] for (b,) in store.engine.connect().execute(
        sa.select(log.c.body).where(log.c.kind == "submission").order_by(log.c.position.desc()).limit(1))]  # fmt: skip
    assert env[0]["source"] == "capture:c-2" and env[0]["converted_from"]["format"] == "epcis"
    assert reetrace.capture_epcis(store, sep, principal="NMSEP").new_events == 0
    src.dispose()


def test_query_subset_under_the_principals_visibility(store: Store, tmp_path: Any) -> None:
    src = _source(tmp_path)
    reetrace.load_registry(store, reetrace.parse_registry(str(EX / "registry.json")))
    for ent in ("NMMINE", "GXIMP", "NMSEP", "NBMET", "NBMAG"):
        assert reetrace.capture_epcis(store, _doc(src, ent), principal=ent, received_at=RECEIVED).success
    src.dispose()

    def ids(params: dict[str, Any], principal: str | None = None) -> list[str]:
        doc = reetrace.query_epcis(store, params, principal=principal)
        jsonschema.Draft7Validator(schema()).validate(json.loads(json.dumps(doc)))
        return [e["reetrace:eventID"] for e in doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]

    everything = ids({})
    assert len(everything) == 18
    # NMSEP sees its own events and those naming it (the mine's and importer's ships to it, NBMET's receive).
    mine = ids({}, "NMSEP")
    assert {"NMMINE-0302", "GX-25-0312", "MET-0316", "SEP-0312"} <= set(mine) and "MAG-0325" not in mine
    assert ids({"eventType": "TransformationEvent"}, "NMSEP") == ["SEP-0307", "SEP-0308", "SEP-0312",
                                                                   "SEP-0313", "MET-0316", "MET-0317"]  # fmt: skip
    assert ids({"EQ_bizStep": "https://ref.gs1.org/cbv/BizStep-shipping", "eventType": ["ObjectEvent"]}) == [
        "NMMINE-0302", "GX-25-0312", "SEP-0315", "MET-0320", "MAG-0328"]  # fmt: skip
    assert ids({"GE_eventTime": "2025-03-12T02:00:00Z", "LT_eventTime": "2025-03-13T10:00:00+08:00"}) == [
        "SEP-0312"
    ]
    assert ids({"MATCH_epcClass": "urn:reetrace:lot:NMSEP:PRND-2503-A"}) == ["SEP-0315"]
    assert ids({"MATCH_anyEPCClass": "urn:reetrace:lot:NMSEP:PRND-2503-A"}) == ["SEP-0312", "SEP-0315",
                                                                               "MET-0316"]  # fmt: skip
    assert ids({"MATCH_outputEPCClass": "urn:reetrace:lot:NMSEP:PRND-2503-A"}) == ["SEP-0312"]
    assert ids({"MATCH_anyEPC": "urn:epc:id:sgtin:0614141.107346.2017"}) == []
    doc = reetrace.query_epcis(store, {"perPage": "2"}, principal=None)
    assert (
        doc["reetrace:truncated"] and len(doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]) == 2
    )
    with pytest.raises(reetrace.QueryParameterError, match="EQ_readPoint"):
        reetrace.query_epcis(store, {"EQ_readPoint": "x"}, principal=None)
    with pytest.raises(reetrace.QueryParameterError, match="no offset"):
        reetrace.query_epcis(store, {"GE_eventTime": "2025-03-01T00:00:00"}, principal=None)

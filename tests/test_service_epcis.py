"""EPCIS 2.0 REST bindings on the service, over a real uvicorn on SQLite and PostgreSQL: capture with rollback
semantics answering a capture job, the job read back, and the SimpleEventQuery subset under the matrix."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import jsonschema
import orjson
import pytest

import reetrace
from reetrace.epcis.export import CONTEXT, event_to_epcis
from reetrace.models import Event
from tests.epcis_helpers import schema
from tests.service_helpers import A, B, Server, World, build_world, head, start_server, verify_db

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

JSONLD = {"Content-Type": "application/ld+json"}
BEFORE_APRIL = "LT_eventTime=2025-04-01T00:00:00%2B08:00"


@pytest.fixture(scope="module")
def world(module_db: str) -> World:
    return build_world(module_db)


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[Server]:
    srv = start_server(world.db, max_upload_mb=1, lock_timeout=0.5)
    try:
        yield srv
    finally:
        srv.stop()


def call(server: Server, world: World, role: str, method: str, path: str, **kw: Any) -> httpx.Response:
    with server.client(world.tokens.get(role)) as c:
        return c.request(method, path, **kw)


def document(records: list[dict[str, Any]]) -> dict[str, Any]:
    """An EPCISDocument of reetrace events, written by the mapping (docs/epcis-mapping.md)."""
    return {
        "@context": CONTEXT, "type": "EPCISDocument", "schemaVersion": "2.0",
        "creationDate": datetime.now(UTC).isoformat(),
        "epcisBody": {"eventList": [event_to_epcis(Event.model_validate(r)) for r in records]},
    }  # fmt: skip


def gains(tag: str, n: int = 2, *, enterprise: str = A, site: str = "NB-MAG") -> list[dict[str, Any]]:
    """A new month (April 2025) of stock-take gains, each creating a new lot of PrNd metal."""
    return [
        {"event_id": f"{tag}-{i}", "type": "adjust", "enterprise": enterprise, "site": site,
         "occurred_at": f"2025-04-{i + 2:02d}T10:00:00+08:00", "reason": "stock-take: drum found",
         "outputs": [{"lot": f"{tag}-LOT-{i}", "product": "PrNd metal", "form": "metal", "mass_kg": 100 + i,
                      "re_metal_pct": 99.5, "elements": {"Pr": 25.0, "Nd": 75.0}}]}
        for i in range(n)
    ]  # fmt: skip


def event_ids(doc: dict[str, Any]) -> list[str]:
    jsonschema.Draft7Validator(schema()).validate(doc)
    assert doc["type"] == "EPCISQueryDocument"
    return [e["reetrace:eventID"] for e in doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]


def test_capture_records_the_events_and_the_job_is_read_from_the_log(server: Server, world: World) -> None:
    tag = f"CAP{uuid.uuid4().hex[:6]}"
    before = head(world.db)[0]
    r = call(server, world, "A", "POST", "/v1/epcis/capture", json=document(gains(tag)))
    assert r.status_code == 202, r.text
    assert r.headers["GS1-EPCIS-Version"] == "2.0.0"
    job = r.json()
    assert (job["success"], job["running"], job["captureErrorBehaviour"], job["errors"]) == (
        True, False, "rollback", []
    )  # fmt: skip
    assert job["reetrace:newEvents"] == 2 and job["reetrace:position"] == before + 1
    location = r.headers["Location"]
    assert location == f"/v1/epcis/capture/{job['captureID']}"
    # The job is derived from the log (the submission's envelope names the capture), for whoever may read it.
    for role in ("A", "inspector", "admin"):
        got = call(server, world, role, "GET", location)
        assert got.status_code == 200, (role, got.text)
        assert {
            k: got.json()[k] for k in ("captureID", "success", "reetrace:position", "reetrace:newEvents")
        } == {k: job[k] for k in ("captureID", "success", "reetrace:position", "reetrace:newEvents")}
    assert call(server, world, "B", "GET", location).status_code == 403
    assert call(server, world, "none", "GET", location).status_code == 401
    # The events are in the store: the lot is traced, and the log verifies.
    lot = f"{A}:{tag}-LOT-1"
    trace = call(server, world, "inspector", "GET", f"/v1/lots/{lot}/trace")
    assert trace.status_code == 200, trace.text
    assert call(server, world, "A", "GET", f"/v1/lots/{lot}").status_code == 200
    assert verify_db(world.db) == head(world.db)[0]
    # And queried back as EPCIS, by the reporter.
    q = call(server, world, "A", "GET", "/v1/epcis/events?GE_eventTime=2025-04-01T00:00:00Z")
    assert q.status_code == 200 and [i for i in event_ids(q.json()) if i.startswith(tag)] == [
        f"{tag}-0",
        f"{tag}-1",
    ]
    # The same document again: nothing new; its job is this worker's (nothing was written).
    recorded = head(world.db)
    again = call(server, world, "A", "POST", "/v1/epcis/capture", json=document(gains(tag)), headers=JSONLD)
    assert again.status_code == 202 and again.json()["reetrace:newEvents"] == 0
    assert head(world.db) == recorded
    assert call(server, world, "A", "GET", again.headers["Location"]).json()["success"] is True


def test_one_bad_event_refuses_the_whole_capture(server: Server, world: World) -> None:
    tag = f"BAD{uuid.uuid4().hex[:6]}"
    doc = document(gains(tag, 3))
    doc["epcisBody"]["eventList"][1]["quantityList"][0]["uom"] = "EA"
    before = head(world.db)
    r = call(server, world, "A", "POST", "/v1/epcis/capture", json=doc)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["success"] is False and job["captureErrorBehaviour"] == "rollback"
    assert [(e["type"], e["instance"]) for e in job["errors"]] == [
        ("epcisException:ValidationException", "#/epcisBody/eventList/1")
    ]
    assert "EA" in job["errors"][0]["title"]
    assert head(world.db) == before
    got = call(server, world, "A", "GET", r.headers["Location"])
    assert got.status_code == 200 and got.json()["errors"] == job["errors"]
    assert call(server, world, "B", "GET", r.headers["Location"]).status_code == 403
    assert call(server, world, "A", "GET", f"/v1/epcis/capture/{tag}").status_code == 404


def test_capture_is_refused_for_others_and_for_bad_requests(server: Server, world: World) -> None:
    tag = f"OTH{uuid.uuid4().hex[:6]}"
    doc = document(gains(tag))
    before = head(world.db)
    refused = [
        ("B", {"json": doc}, 403),  # enterprise B capturing A's events
        ("none", {"json": doc}, 401),
        ("revoked", {"json": doc}, 401),
        ("inspector", {"json": doc}, 403),
        ("A", {"content": b"{", "headers": {"Content-Type": "application/json"}}, 400),
        ("A", {"json": {"type": "EPCISQueryDocument"}}, 400),
        ("A", {"content": orjson.dumps(doc), "headers": {"Content-Type": "text/plain"}}, 415),
        ("A", {"content": b"[" + b" " * (1024 * 1024 + 10) + b"]", "headers": JSONLD}, 413),
    ]
    for role, kw, want in refused:
        r = call(server, world, role, "POST", "/v1/epcis/capture", **kw)
        assert r.status_code == want, (role, want, r.text[:300])
        assert r.headers["content-type"].startswith("application/problem+json")
    r = call(server, world, "B", "POST", "/v1/epcis/capture", json=doc)
    assert A in r.json()["detail"]
    # A document naming two reporters: not one enterprise's submission.
    mixed = document(gains(tag) + gains(tag + "M", 1, enterprise=B, site="BT-SEP"))
    assert call(server, world, "admin", "POST", "/v1/epcis/capture", json=mixed).status_code == 422
    assert call(server, world, "A", "POST", "/v1/epcis/capture", json=mixed).status_code == 403
    assert head(world.db) == before
    # The admin captures for the one reporter the events name (like a submission for any enterprise).
    r = call(server, world, "admin", "POST", "/v1/epcis/capture", json=doc)
    assert r.status_code == 202 and r.json()["success"] is True, r.text
    assert call(server, world, "A", "GET", r.headers["Location"]).status_code == 200


def test_query_subset_and_visibility(server: Server, world: World) -> None:
    def ids(role: str, query: str) -> list[str]:
        window = "" if "LT_eventTime" in query else f"{BEFORE_APRIL}&"
        r = call(server, world, role, "GET", f"/v1/epcis/events?{window}{query}")
        assert r.status_code == 200, r.text
        return event_ids(r.json())

    assert len(ids("inspector", "")) == 18
    assert ids("inspector", "eventType=ObjectEvent&EQ_bizStep=shipping") == [
        "NMMINE-0302", "GX-25-0312", "SEP-0315", "MET-0320", "MAG-0328"
    ]  # fmt: skip
    assert ids(
        "inspector", "EQ_bizStep=https://ref.gs1.org/cbv/BizStep-shipping&eventType=ObjectEvent"
    ) == ids("inspector", "eventType=ObjectEvent&EQ_bizStep=shipping")
    assert ids("inspector", "GE_eventTime=2025-03-12T02:00:00Z&LT_eventTime=2025-03-13T10:00:00%2B08:00") == [
        "SEP-0312"
    ]
    assert ids("inspector", "MATCH_epcClass=urn:reetrace:lot:NMSEP:PRND-2503-A") == ["SEP-0315"]
    assert ids("inspector", "eventType=TransformationEvent&eventType=ObjectEvent&perPage=3") == ids(
        "inspector", "perPage=3"
    )
    # B (NMSEP) sees its own events and those naming it as counterparty, nothing else.
    assert ids("B", "eventType=TransformationEvent") == ["SEP-0307", "SEP-0308", "SEP-0312", "SEP-0313",
                                                          "MET-0316", "MET-0317"]  # fmt: skip
    store = reetrace.open_store(world.db)
    try:
        for role, ent in (("A", A), ("B", B)):
            lib = reetrace.query_epcis(store, {"LT_eventTime": "2025-04-01T00:00:00+08:00"}, principal=ent)
            assert ids(role, "") == event_ids(lib)
            assert len(ids(role, "")) < 18
    finally:
        store.dispose()
    assert "NMMINE-0302" not in ids("A", "") and "MAG-0328" in ids("A", "")
    # Bad parameters: 400 naming the parameter; the admin does not read flows; no token 401.
    for query, name in (
        ("EQ_readPoint=x", "EQ_readPoint"),
        ("GE_eventTime=yesterday", "GE_eventTime"),
        ("LT_eventTime=2025-03-01T00:00:00", "LT_eventTime"),
        ("perPage=0", "perPage"),
        ("perPage=x", "perPage"),
        ("GE_eventTime=2025-03-01T00:00:00Z&GE_eventTime=2025-03-02T00:00:00Z", "GE_eventTime"),
    ):
        r = call(server, world, "inspector", "GET", f"/v1/epcis/events?{query}")
        assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json"), (
            query
        )
        assert r.json()["type"] == "epcisException:QueryParameterException" and name in r.json()["title"]
    assert call(server, world, "admin", "GET", "/v1/epcis/events").status_code == 403
    assert call(server, world, "none", "GET", "/v1/epcis/events").status_code == 401
    assert call(server, world, "expired", "GET", "/v1/epcis/events").status_code == 401


def test_a_captured_document_round_trips_through_the_query(server: Server, world: World) -> None:
    """What an inspector queries is what was captured: the events come back with the same content."""
    tag = f"RT{uuid.uuid4().hex[:6]}"
    doc = document(gains(tag, 3))
    assert call(server, world, "A", "POST", "/v1/epcis/capture", json=doc).json()["success"] is True
    cls = doc["epcisBody"]["eventList"][2]["quantityList"][0]["epcClass"]
    r = call(server, world, "inspector", "GET", "/v1/epcis/events", params={"MATCH_epcClass": cls})
    got = r.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert [e["reetrace:eventID"] for e in got] == [f"{tag}-2"]
    assert got[0]["eventID"] == doc["epcisBody"]["eventList"][2]["eventID"]
    assert copy.deepcopy(got[0]["ilmd"]) == doc["epcisBody"]["eventList"][2]["ilmd"]


def test_a_recorded_job_is_answered_by_another_process_a_refused_one_is_not(
    server: Server, world: World
) -> None:
    """The job of a recorded capture comes from the log (any worker, any host, after a restart); the job of
    a capture that wrote nothing lives in the memory of the worker that answered it."""
    tag = f"OTHER{uuid.uuid4().hex[:6]}"
    ok = call(server, world, "A", "POST", "/v1/epcis/capture", json=document(gains(tag)))
    bad_doc = document(gains(tag + "X"))
    bad_doc["epcisBody"]["eventList"][0]["eventTime"] = "2025-04-02T10:00:00"
    bad = call(server, world, "A", "POST", "/v1/epcis/capture", json=bad_doc)
    assert ok.json()["success"] is True and bad.json()["success"] is False
    other = start_server(world.db, max_upload_mb=1, lock_timeout=0.5)
    try:
        with other.client(world.tokens["A"]) as c:
            got = c.get(ok.headers["Location"])
            assert (
                got.status_code == 200 and got.json()["reetrace:position"] == ok.json()["reetrace:position"]
            )
            assert c.get(bad.headers["Location"]).status_code == 404
    finally:
        other.stop()

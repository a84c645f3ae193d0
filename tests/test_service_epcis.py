"""EPCIS 2.0 REST bindings on the service, over a real uvicorn on SQLite and PostgreSQL: capture with rollback
semantics answering a capture job, the job read back, and the SimpleEventQuery subset under the matrix."""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import jsonschema
import orjson
import pytest
import sqlalchemy as sa

import reetrace
from reetrace.epcis.export import CONTEXT, event_to_epcis
from reetrace.models import Event
from reetrace.store.schema import log
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


def gains(
    tag: str, n: int = 2, *, enterprise: str = A, site: str = "NB-MAG", month: str = "2025-04"
) -> list[dict[str, Any]]:
    """A new month (April 2025 unless told) of stock-take gains, each creating a new lot of PrNd metal."""
    return [
        {"event_id": f"{tag}-{i}", "type": "adjust", "enterprise": enterprise, "site": site,
         "occurred_at": f"{month}-{i + 2:02d}T10:00:00+08:00", "reason": "stock-take: drum found",
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


# --- Who captured: the envelope in the log, and the job ------------------------------------------------------


def test_the_capturing_principal_is_recorded_in_the_envelope_and_shown_in_the_job(
    server: Server, world: World
) -> None:
    tag = f"WHO{uuid.uuid4().hex[:6]}"
    agent = {"User-Agent": "partner-epcis-client/2.1"}
    r = call(server, world, "A", "POST", "/v1/epcis/capture", json=document(gains(tag)), headers=agent)
    assert r.status_code == 202 and r.json()["success"] is True, r.text
    position = r.json()["reetrace:position"]
    expected = {"principal": "ent-a", "token": world.token_ids["A"], "address": "127.0.0.1",
                "user_agent": "partner-epcis-client/2.1"}  # fmt: skip
    assert r.json()["reetrace:submitter"] == expected
    # The envelope in the hash-chained log says who captured, with the token's id and never the token.
    store = reetrace.open_store(world.db)
    try:
        with store.reading() as conn:
            kind, body = conn.execute(
                sa.select(log.c.kind, log.c.body).where(log.c.position == position)
            ).one()
    finally:
        store.dispose()
    envelope = orjson.loads(body)["record"]
    assert kind == "submission" and envelope["source"] == f"capture:{r.json()['captureID']}"
    assert envelope["submitter"] == expected
    assert world.tokens["A"].encode() not in bytes(body)
    assert verify_db(world.db) == head(world.db)[0]
    # The job, read back from the log, shows it to those who may read the job; another enterprise may not.
    for role in ("A", "inspector", "admin"):
        got = call(server, world, role, "GET", r.headers["Location"])
        assert got.status_code == 200 and got.json()["reetrace:submitter"] == expected, (role, got.text)
    refused = call(server, world, "B", "GET", r.headers["Location"])
    assert refused.status_code == 403 and "ent-a" not in refused.text
    # A refused capture (nothing written) keeps who asked in its job, for the same readers.
    bad = document(gains(tag + "X"))
    bad["epcisBody"]["eventList"][0]["quantityList"][0]["uom"] = "EA"
    r = call(server, world, "A", "POST", "/v1/epcis/capture", json=bad, headers=agent)
    assert r.json()["success"] is False and r.json()["reetrace:submitter"] == expected
    assert call(server, world, "B", "GET", r.headers["Location"]).status_code == 403


# --- Paging ------------------------------------------------------------------------------------------------------

_NEXT = re.compile(r'^<(/v1/epcis/events\?[^>]+)>; rel="next"$')
JUNE = {"GE_eventTime": "2025-06-01T00:00:00+08:00", "LT_eventTime": "2025-07-01T00:00:00+08:00"}


def _page(server: Server, world: World, role: str, url: str, **kw: Any) -> tuple[list[str], str | None]:
    r = call(server, world, role, "GET", url, **kw)
    assert r.status_code == 200, r.text
    link = r.headers.get("Link")
    if link is None:
        return event_ids(r.json()), None
    m = _NEXT.match(link)
    assert m, link
    assert r.json()["reetrace:truncated"] is True
    return event_ids(r.json()), m.group(1)


def test_walking_the_pages_gives_every_event_once_in_order_while_events_are_appended(
    server: Server, world: World
) -> None:
    tag = f"PG{uuid.uuid4().hex[:6]}"
    assert call(server, world, "A", "POST", "/v1/epcis/capture",
                json=document(gains(tag, 7, month="2025-06"))).json()["success"]  # fmt: skip
    everything, more = _page(server, world, "inspector", "/v1/epcis/events", params={**JUNE, "perPage": 100})
    assert more is None and everything == [f"{tag}-{i}" for i in range(7)]
    walked: list[str] = []
    url: str | None = "/v1/epcis/events"
    kw: dict[str, Any] = {"params": {**JUNE, "perPage": 3}}
    pages = 0
    while url is not None and pages < 10:
        ids, url = _page(server, world, "inspector", url, **kw)
        kw = {}  # the Link is the whole next address
        walked += ids
        pages += 1
        # Matching events appended during the walk: they belong to the next walk, not to this one.
        extra = document(gains(f"{tag}N{pages}", 2, month="2025-06"))
        assert call(server, world, "A", "POST", "/v1/epcis/capture", json=extra).json()["success"]
    assert pages == 3 and walked == everything
    # A new walk sees them, each once and in log order.
    again, _ = _page(server, world, "inspector", "/v1/epcis/events", params={**JUNE, "perPage": 100})
    assert again == everything + [f"{tag}N{p}-{i}" for p in (1, 2, 3) for i in range(2)]
    # perPage above the server's maximum is capped, not refused.
    capped, _ = _page(server, world, "inspector", "/v1/epcis/events", params={**JUNE, "perPage": 99999})
    assert capped == again


def test_a_page_token_is_for_its_query_and_its_principal_only(server: Server, world: World) -> None:
    tag = f"PT{uuid.uuid4().hex[:6]}"
    july = {"GE_eventTime": "2025-07-01T00:00:00+08:00", "LT_eventTime": "2025-08-01T00:00:00+08:00"}
    assert call(server, world, "A", "POST", "/v1/epcis/capture",
                json=document(gains(tag, 4, month="2025-07"))).json()["success"]  # fmt: skip
    first, link = _page(server, world, "A", "/v1/epcis/events", params={**july, "perPage": 2})
    assert first == [f"{tag}-0", f"{tag}-1"] and link is not None
    # B (who sees none of these) cannot page through A's results with A's link: its view differs.
    r = call(server, world, "B", "GET", link)
    assert r.status_code == 400 and r.json()["type"] == "epcisException:QueryParameterException"
    assert "nextPageToken" in r.json()["title"] and tag not in r.text
    # Nor may the inspector (another view), nor A with the token on another query.
    assert call(server, world, "inspector", "GET", link).status_code == 400
    other = link.replace("perPage=2", "perPage=2&eventType=ObjectEvent")
    r = call(server, world, "A", "GET", other)
    assert r.status_code == 400 and "another query" in r.json()["title"]
    # Garbled or forged tokens: 400 naming the parameter.
    token = link.split("nextPageToken=")[1]
    for bad in ("x", token[:-3], "eyJ2IjoxfQ", token + token, "!!"):
        r = call(server, world, "A", "GET", "/v1/epcis/events", params={**july, "perPage": 2,
                                                                        "nextPageToken": bad})  # fmt: skip
        assert r.status_code == 400 and "nextPageToken" in r.json()["title"], (bad, r.text)
    r = call(server, world, "A", "GET", link + "&nextPageToken=" + token)
    assert r.status_code == 400 and "nextPageToken" in r.json()["title"]
    # A follows its own link to the end.
    rest, end = _page(server, world, "A", link)
    assert rest == [f"{tag}-2", f"{tag}-3"] and end is None


# --- GS1 version headers -----------------------------------------------------------------------------------------


def test_every_epcis_response_carries_the_version_headers(server: Server, world: World) -> None:
    answers = [
        call(server, world, "inspector", "GET", "/v1/epcis/events", params={"perPage": 1}),  # 200
        call(server, world, "none", "GET", "/v1/epcis/events"),  # 401
        call(server, world, "admin", "GET", "/v1/epcis/events"),  # 403
        call(server, world, "A", "GET", "/v1/epcis/capture/nosuchjob"),  # 404
        call(server, world, "A", "GET", "/v1/epcis/capture/bad%20id"),  # 422
        call(server, world, "A", "GET", "/v1/epcis/events", params={"EQ_readPoint": "x"}),  # 400
        call(server, world, "A", "GET", "/v1/epcis/nothing-here"),  # 404
    ]
    assert [r.status_code for r in answers] == [200, 401, 403, 404, 422, 400, 404]
    for r in answers:
        assert (r.headers["GS1-EPCIS-Version"], r.headers["GS1-CBV-Version"]) == ("2.0.0", "2.0.0"), r.url
        assert len(r.headers.get_list("GS1-EPCIS-Version")) == 1
    assert "GS1-EPCIS-Version" not in call(server, world, "none", "GET", "/health").headers


def test_a_version_we_do_not_serve_is_not_acceptable(server: Server, world: World) -> None:
    url = "/v1/epcis/events"
    ok = [
        {},
        {"GS1-EPCIS-Version": "2.0.0"},
        {"GS1-EPCIS-Version": "2.0", "GS1-CBV-Version": "2"},
        {"GS1-EPCIS-Min": "1.0", "GS1-EPCIS-Max": "2.0.0"},
        {"GS1-CBV-Min": "1.2.0", "GS1-CBV-Max": "2.1"},
    ]
    for headers in ok:
        r = call(server, world, "inspector", "GET", url, params={"perPage": 1}, headers=headers)
        assert r.status_code == 200, (headers, r.text)
    refused = [
        ({"GS1-EPCIS-Version": "1.2"}, "GS1-EPCIS-Version"), ({"GS1-CBV-Version": "1.2.0"}, "GS1-CBV-Version"),
        ({"GS1-EPCIS-Min": "2.1"}, "GS1-EPCIS-Min"), ({"GS1-EPCIS-Max": "1.2"}, "GS1-EPCIS-Max"),
        ({"GS1-CBV-Min": "3"}, "GS1-CBV-Min"), ({"GS1-CBV-Max": "1.2"}, "GS1-CBV-Max"),
        ({"GS1-EPCIS-Version": "two"}, "GS1-EPCIS-Version"),
    ]  # fmt: skip
    for headers, name in refused:
        for role, method, path in (("inspector", "GET", url), ("A", "GET", "/v1/epcis/capture/x")):
            r = call(server, world, role, method, path, headers=headers)
            assert r.status_code == 406, (headers, path, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            body = r.json()
            assert body["type"] == "epcisException:NotAcceptableException" and body["status"] == 406
            assert name in body["title"] and "2.0.0" in body["title"]
            assert r.headers["GS1-EPCIS-Version"] == "2.0.0"
    # A capture of a document in another version writes nothing.
    tag = f"VER{uuid.uuid4().hex[:6]}"
    before = head(world.db)
    for headers in ({"GS1-EPCIS-Version": "1.2"}, {"GS1-CBV-Version": "1.2"}):
        r = call(server, world, "A", "POST", "/v1/epcis/capture", json=document(gains(tag)), headers=headers)
        assert r.status_code == 406, r.text
    assert head(world.db) == before
    r = call(server, world, "A", "POST", "/v1/epcis/capture", json=document(gains(tag)),
             headers={"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"})  # fmt: skip
    assert r.status_code == 202 and r.json()["success"] is True

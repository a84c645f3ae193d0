"""GS1 EPCIS 2.0 REST bindings (a subset), over :mod:`reetrace.epcis.capture`: ``POST /capture`` with
rollback semantics, ``GET /capture/{captureID}``, and ``GET /events`` (the SimpleEventQuery subset, paged:
``perPage``, ``nextPageToken`` and a ``Link: <…>; rel="next"`` header while more events match).

Mounted under ``/v1/epcis`` like the rest of the API, with the same tokens and the same permission matrix.
:class:`EpcisHeaders` (installed by the app) gives every response under ``/v1/epcis`` the
``GS1-EPCIS-Version`` and ``GS1-CBV-Version`` headers and answers 406 to a request asking for versions we
do not serve (:mod:`reetrace.epcis.versions`).

A capture records who captured it in its submission's envelope (``submitter``: principal, token id,
client address, user agent), as an upload does, and its job shows it (``reetrace:submitter``) to whoever
may read the job.

Capture jobs. A capture that succeeds *is* a submission whose envelope names its source
``capture:{captureID}``, so its job is derived from the log: any worker or host answers it, and it survives a
restart. A capture that wrote nothing (refused, or a no-op whose content was already recorded) leaves no
trace in the log; its job is kept in this worker's memory (the last :data:`KEEP_JOBS`), so with several
workers it may answer 404 on another worker — the client has the whole job in the capture's answer anyway.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import reetrace
from reetrace import Principal
from reetrace.epcis.capture import QUERY_PARAMETER, SECURITY, VALIDATION
from reetrace.epcis.ids import PARTY_URN, parse_party
from reetrace.epcis.versions import HEADERS, NOT_ACCEPTABLE, VersionNotServed, check_versions
from reetrace.service.auth import CurrentPrincipal, PrimaryStore, ReadStore
from reetrace.service.permissions import Resource, require
from reetrace.service.problems import MEDIA_TYPE, HTTPProblem, responses
from reetrace.service.responses import JSON, to_json
from reetrace.store.schema import submissions

router = APIRouter(prefix="/v1/epcis", tags=["epcis"])

PREFIX = "/v1/epcis"
#: Refused and no-op capture jobs kept in memory per worker (successful ones are read from the log).
KEEP_JOBS = 1000
VERSIONS = dict(HEADERS)
_MEDIA = ("application/json", "application/ld+json")
_CAPTURE_BODY = {
    "required": True,
    "description": "An EPCISDocument following docs/epcis-mapping.md (JSON or JSON-LD).",
    "content": {m: {"schema": {"type": "object"}} for m in _MEDIA},
}
CaptureID = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Param = Annotated[str | None, Query(max_length=1000)]
#: Parameters with one value (the others take alternatives, comma-separated or repeated).
_SINGLE = ("GE_eventTime", "LT_eventTime", "perPage", "nextPageToken")


class _Jobs:
    """Jobs that wrote nothing, with the enterprise they were for: bounded, thread-safe, this worker only."""

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._jobs: OrderedDict[str, tuple[str | None, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, cid: str, enterprise: str | None, job: dict[str, Any]) -> None:
        with self._lock:
            self._jobs[cid] = (enterprise, job)
            while len(self._jobs) > self._keep:
                self._jobs.popitem(last=False)

    def get(self, cid: str) -> tuple[str | None, dict[str, Any]] | None:
        with self._lock:
            return self._jobs.get(cid)


_JOBS = _Jobs(KEEP_JOBS)


def _epcis_problem(kind: str, status: int, title: str, **extra: Any) -> Response:
    body = {"type": kind, "title": title, "status": status, **extra}
    return Response(orjson.dumps(body), status_code=status, media_type=MEDIA_TYPE, headers=VERSIONS)


class EpcisHeaders:
    """ASGI middleware over the EPCIS paths: every response carries ``GS1-EPCIS-Version`` and
    ``GS1-CBV-Version`` (401s, 404s and validation errors too, which no route here writes), and a request
    whose version headers exclude what we serve is answered 406 first, as the bindings' content negotiation
    says, before the token is even read. A plain ASGI wrapper, not ``BaseHTTPMiddleware``, so that responses
    still stream."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._extra = [(k.lower().encode(), v.encode()) for k, v in VERSIONS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        try:
            check_versions({k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]})
        except VersionNotServed as exc:
            await _epcis_problem(NOT_ACCEPTABLE, exc.status, str(exc))(scope, receive, send)
            return

        async def send_with_versions(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [h for h in self._extra if h[0] not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_versions)


def _submitter(request: Request, principal: Principal) -> dict[str, Any]:
    """Who is capturing, as ``routes/submissions.py`` records an upload's submitter: the token's id, never
    the token."""
    return {
        "principal": principal.name,
        "token": principal.token_id,
        "address": request.client.host if request.client else None,
        "user_agent": request.headers.get("user-agent"),
    }


def _reporters(doc: Any) -> set[str]:
    """The enterprises the document's events name as reporter (``reetrace:reporter``); unreadable ones are
    left to the importer, which refuses them by event."""
    body = doc.get("epcisBody") if isinstance(doc, Mapping) else None
    evs = body.get("eventList") if isinstance(body, Mapping) else None
    out: set[str] = set()
    for ev in evs if isinstance(evs, list) else ():
        rep = ev.get("reetrace:reporter") if isinstance(ev, Mapping) else None
        if isinstance(rep, str) and rep.startswith(PARTY_URN):
            try:
                out.add(parse_party(rep))
            except ValueError:
                continue
    return out


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, streamed; 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPProblem(413, f"the document is larger than the limit of {limit} bytes")
    buf = bytearray()
    try:
        async for chunk in request.stream():
            buf += chunk
            if len(buf) > limit:
                raise HTTPProblem(413, f"the document is larger than the limit of {limit} bytes")
    except ClientDisconnect:
        raise HTTPProblem(400, "the client went away before the document was complete") from None
    return bytes(buf)


def _capture_enterprise(principal: Principal, reporters: set[str]) -> str:
    """Whose submission the capture becomes: an enterprise principal's own; for an admin, the one reporter."""
    if principal.role == "enterprise" and principal.enterprise is not None:
        others = sorted(reporters - {principal.enterprise})
        if others:
            mine = principal.enterprise
            raise HTTPProblem(
                403, f"{principal.name} may capture events of {mine} only, not of {', '.join(others)}"
            )
        return principal.enterprise
    if len(reporters) != 1:
        named = ", ".join(sorted(reporters)) or "none"
        raise HTTPProblem(422, f"the events must name one reporter (reetrace:reporter); they name {named}")
    return next(iter(reporters))


@router.post(
    "/capture",
    status_code=202,
    response_class=JSON,
    response_model=dict[str, Any],
    openapi_extra={"requestBody": _CAPTURE_BODY},
    responses={
        202: {"description": "The capture job (success, or every event's error: nothing was written)",
              "headers": {"Location": {"description": "The capture job", "schema": {"type": "string"}}}},
        **responses(400, 401, 403, 406, 413, 415, 422, 503),
    },
)  # fmt: skip
async def capture(request: Request, principal: CurrentPrincipal, store: PrimaryStore) -> Response:
    """Capture an EPCISDocument with rollback semantics: it becomes the reporter's submission for the period
    of its first event (same rules as any submission), or nothing is written.

    202 with ``Location`` and the capture job; the job's ``success`` is false and ``errors`` name each
    refused event (``instance`` ``#/epcisBody/eventList/{i}``) when any event is wrong. 400 when the body is
    not a JSON document; 403 for events of another enterprise; 406 when ``GS1-EPCIS-Version`` or
    ``GS1-CBV-Version`` names a version other than 2.0.0; 413 over the size limit; 415 for another content
    type; 503 when the log is busy.
    """
    # The role first, before the body is read: an inspector may capture for nobody.
    require(principal, "epcis.capture", Resource(enterprise=principal.enterprise))
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in _MEDIA:
        raise HTTPProblem(415, f"an EPCISDocument is {' or '.join(_MEDIA)}, not {media or 'nothing'}")
    raw = await _read_body(request, request.app.state.settings.max_upload_bytes)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _epcis_problem(VALIDATION, 400, f"not JSON: {exc}")
    if not isinstance(doc, dict) or doc.get("type") != "EPCISDocument":
        return _epcis_problem(VALIDATION, 400, "not an EPCISDocument (type)")
    enterprise = _capture_enterprise(principal, _reporters(doc))
    require(principal, "epcis.capture", Resource(enterprise=enterprise))
    cid = uuid.uuid4().hex
    job = await run_in_threadpool(
        reetrace.capture_epcis, store, raw, principal=enterprise, capture_id=cid,
        submitter=_submitter(request, principal),
    )  # fmt: skip
    body = job.to_dict()
    if job.status == 403:
        return _epcis_problem(SECURITY, 403, job.errors[0]["title"] if job.errors else "refused")
    if not job.success or job.new_events == 0:
        _JOBS.put(cid, enterprise, body)
    headers = {"Location": f"{PREFIX}/capture/{cid}", **VERSIONS}
    return Response(to_json(body), status_code=202, media_type="application/json", headers=headers)


def _job_from_log(store: reetrace.Store, cid: str) -> tuple[str, dict[str, Any]] | None:
    """The job of a capture recorded as a submission whose source is ``capture:{cid}``; who captured it is
    read from the envelope in the log."""
    q = sa.select(submissions.c.position).where(submissions.c.source == f"capture:{cid}")
    with store.reading() as conn:
        found = conn.execute(q).scalar()
    if found is None:
        return None
    position = int(found)
    rec = reetrace.submission_receipt(store, position)
    if rec is None:
        return None
    at = datetime.fromisoformat(rec["received_at"]).astimezone(UTC)
    n = int(rec["events"]["count"])
    job = reetrace.CaptureJob(cid, at, at, True, 201, [], position, n, rec.get("submitter"))
    return str(rec["enterprise"]), job.to_dict()


@router.get(
    "/capture/{captureID}",
    response_class=JSON,
    response_model=dict[str, Any],
    responses=responses(401, 403, 404, 406, 422),
)
def capture_job(principal: CurrentPrincipal, store: PrimaryStore, captureID: CaptureID) -> Response:
    """A capture job: from the log when the capture was recorded; from this worker's memory when it wrote
    nothing (refused or no-op)."""
    found: tuple[str | None, dict[str, Any]] | None = _job_from_log(store, captureID)
    if found is None:
        found = _JOBS.get(captureID)
    if found is None:
        # Same answer whether or not the job exists, for a principal who could not read it anyway.
        require(principal, "epcis.capture.read", Resource(enterprise=principal.enterprise))
        raise HTTPProblem(404, f"no capture job {captureID}")
    enterprise, job = found
    require(principal, "epcis.capture.read", Resource(enterprise=enterprise))
    return Response(to_json(job), media_type="application/json", headers=VERSIONS)


@router.get(
    "/events",
    response_class=JSON,
    response_model=dict[str, Any],
    responses={
        200: {
            "description": "One page of the matching events",
            "headers": {
                "Link": {
                    "description": 'The next page, `<…>; rel="next"`, while more events match',
                    "schema": {"type": "string"},
                }
            },
        },
        **responses(400, 401, 403, 406, 422),
    },
)
def query(
    request: Request,
    principal: CurrentPrincipal,
    store: ReadStore,
    eventType: Param = None,
    GE_eventTime: Param = None,
    LT_eventTime: Param = None,
    EQ_bizStep: Param = None,
    MATCH_anyEPC: Param = None,
    MATCH_epcClass: Param = None,
    MATCH_anyEPCClass: Param = None,
    MATCH_inputEPCClass: Param = None,
    MATCH_outputEPCClass: Param = None,
    perPage: Annotated[str | None, Query(max_length=12)] = None,
    nextPageToken: Annotated[str | None, Query(max_length=1000)] = None,
) -> Response:
    """The SimpleEventQuery subset as an EPCISQueryDocument: an enterprise sees the events it reported and
    those naming it as counterparty; an inspector sees everything. Comma-separated or repeated values are
    alternatives. 400 (``epcisException:QueryParameterException``) naming an unknown or unreadable parameter.

    Paged in log order: ``perPage`` events at most (default 30, as the bindings say; at most 10,000); while
    more match, a ``Link: <…>; rel="next"`` header gives the next page's address (this query with
    ``nextPageToken``). A walk sees the log as of its first page; each page applies the caller's own
    visibility, and a token of another query or another enterprise's view is refused (400 naming
    ``nextPageToken``).
    """
    require(principal, "epcis.query", Resource(enterprise=principal.enterprise))
    params = {k: request.query_params.getlist(k) for k in request.query_params}
    for name in _SINGLE:
        if len(params.get(name, ())) > 1:
            return _epcis_problem(QUERY_PARAMETER, 400, f"{name}: given more than once")
    who = principal.enterprise if principal.role == "enterprise" else None
    try:
        doc = reetrace.query_epcis(store, params, principal=who)
    except reetrace.QueryParameterError as exc:
        return _epcis_problem(QUERY_PARAMETER, 400, str(exc))
    headers = dict(VERSIONS)
    token = doc.get("reetrace:nextPageToken")
    if token is not None:
        # A relative reference (RFC 8288), like the capture's Location: this query, next page.
        nxt = request.url.include_query_params(nextPageToken=token)
        headers["Link"] = f'<{nxt.path}?{nxt.query}>; rel="next"'
    return Response(to_json(doc), media_type="application/json", headers=headers)

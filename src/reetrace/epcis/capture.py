"""EPCIS 2.0 REST bindings as library functions, for an HTTP service to mount (``POST /capture``,
``GET /events``): the service authenticates and passes the principal; these decide and answer.

- :func:`capture` — an EPCISDocument captured with rollback semantics: it becomes the principal's
  submission for the period of its first event (:func:`reetrace.epcis.submission.import_epcis`: same rules,
  all or nothing). The answer is a *capture job* as the bindings define it (``running`` false, ``success``,
  ``captureErrorBehaviour: rollback``, ``errors`` as RFC 7807 problem bodies, one per problem, naming the
  event); the HTTP status is in :attr:`CaptureJob.status` (201 captured, 400 refused, 403 not registered).
- :func:`query_events` — the SimpleEventQuery subset ``eventType``, ``GE_eventTime``/``LT_eventTime``,
  ``EQ_bizStep``, ``MATCH_anyEPC``, ``MATCH_epcClass`` (and ``MATCH_anyEPCClass``,
  ``MATCH_inputEPCClass``, ``MATCH_outputEPCClass``), ``perPage`` and ``nextPageToken``: an
  EPCISQueryDocument, one page of it. A principal sees the events it reported and those naming it as
  counterparty; ``principal=None`` (a regulator) sees all. Time, principal and page are filtered in SQL,
  the rest on the exported events.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from reetrace.epcis.export import CONTEXT, records_to_epcis
from reetrace.epcis.ids import DEFAULT_LOT_IDS, LotIds
from reetrace.epcis.importer import parse_event
from reetrace.epcis.store_export import record_of_frame, record_resolver
from reetrace.epcis.submission import import_epcis
from reetrace.epcis.vocab import bare
from reetrace.errors import InputError, NotRegistered, Problem
from reetrace.models import Event
from reetrace.periods import Period
from reetrace.store.base import Store
from reetrace.store.schema import events, log

VALIDATION = "epcisException:ValidationException"
SECURITY = "epcisException:SecurityException"
QUERY_PARAMETER = "epcisException:QueryParameterException"
#: Events per answer unless ``perPage`` says otherwise (the REST bindings' default, so that a client written
#: against them pages as it expects), and at most (a larger ``perPage`` gets this many: the bindings let a
#: server cap it).
PER_PAGE, MAX_PER_PAGE = 30, 10_000


@dataclass
class CaptureJob:
    capture_id: str
    created_at: datetime
    finished_at: datetime
    success: bool
    status: int
    errors: list[dict[str, Any]] = field(default_factory=list)
    position: int | None = None
    new_events: int = 0
    #: Who captured it (principal, token id, client address, user agent), when a service says so.
    submitter: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "captureID": self.capture_id,
            "createdAt": self.created_at.isoformat(),
            "finishedAt": self.finished_at.isoformat(),
            "running": False,
            "success": self.success,
            "captureErrorBehaviour": "rollback",
            "errors": self.errors,
        }
        if self.success:
            out["reetrace:position"] = self.position
            out["reetrace:newEvents"] = self.new_events
        if self.submitter is not None:
            out["reetrace:submitter"] = self.submitter
        return out


def _problem(kind: str, status: int, p: Problem) -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind, "title": p.reason, "status": status}
    if p.field:
        body["detail"] = f"{p.field}: {p.reason}"
    if p.line > 0:
        body["instance"] = f"#/epcisBody/eventList/{p.line - 1}"
    return body


def _period(raw: bytes, principal: str, lot_ids: LotIds) -> str:
    """The period of the document's first event (Asia/Shanghai), read the way the importer reads it."""
    doc = orjson.loads(raw)
    body = doc.get("epcisBody") if isinstance(doc, Mapping) else None
    evs = body.get("eventList") if isinstance(body, Mapping) else None
    if not isinstance(evs, list) or not evs:
        raise InputError([Problem(0, "epcisBody.eventList", "no events to capture")])
    first = parse_event(evs[0], 0, lot_ids=lot_ids, enterprise=principal)
    if not isinstance(first, Event):
        raise InputError(first)
    return str(Period.of(first.occurred_at))


def capture(
    store: Store,
    document: bytes | Mapping[str, Any],
    *,
    principal: str,
    received_at: datetime | None = None,
    capture_id: str | None = None,
    lot_ids: LotIds = DEFAULT_LOT_IDS,
    submitter: dict[str, Any] | None = None,
) -> CaptureJob:
    """Capture an EPCISDocument as ``principal``'s submission, all or nothing; never raises for bad input.

    ``submitter``: who captured it (the service's principal, token id, client address, user agent), recorded
    in the submission's envelope like any HTTP submission's and shown in the job."""
    job = _capture(store, document, principal, received_at, capture_id, lot_ids, submitter)
    job.submitter = submitter
    return job


def _capture(
    store: Store,
    document: bytes | Mapping[str, Any],
    principal: str,
    received_at: datetime | None,
    capture_id: str | None,
    lot_ids: LotIds,
    submitter: dict[str, Any] | None,
) -> CaptureJob:
    created = datetime.now(UTC)
    cid = capture_id or uuid.uuid4().hex
    raw = document if isinstance(document, bytes) else orjson.dumps(document)
    with store.reading() as conn:
        known = conn.execute(sa.text("SELECT 1 FROM current_enterprises WHERE code = :c"), {"c": principal})
        if known.first() is None:
            err = _problem(SECURITY, 403, Problem(0, "", f"{principal} is not a registered enterprise"))
            return CaptureJob(cid, created, datetime.now(UTC), False, 403, [err])
    try:
        period = _period(raw, principal, lot_ids)
        result = import_epcis(store, raw, enterprise=principal, period=period, received_at=received_at,
                              source_name=f"capture:{cid}", lot_ids=lot_ids, submitter=submitter)  # fmt: skip
    except orjson.JSONDecodeError as exc:
        err = _problem(VALIDATION, 400, Problem(0, "", f"not JSON: {exc}"))
        return CaptureJob(cid, created, datetime.now(UTC), False, 400, [err])
    except InputError as exc:
        errors = [_problem(VALIDATION, 400, p) for p in exc.problems]
        return CaptureJob(cid, created, datetime.now(UTC), False, 400, errors)
    except NotRegistered as exc:
        err = _problem(SECURITY, 403, Problem(0, "", str(exc)))
        return CaptureJob(cid, created, datetime.now(UTC), False, 403, [err])
    return CaptureJob(cid, created, datetime.now(UTC), True, 201, [], result.position, result.new_events)


class QueryParameterError(ValueError):
    """A query parameter this endpoint does not know or cannot read (HTTP 400, QueryParameterException)."""

    def problem(self) -> dict[str, Any]:
        return {"type": QUERY_PARAMETER, "title": str(self), "status": 400}


_KNOWN = {
    "eventType", "GE_eventTime", "LT_eventTime", "EQ_bizStep", "MATCH_anyEPC", "MATCH_epcClass",
    "MATCH_anyEPCClass", "MATCH_inputEPCClass", "MATCH_outputEPCClass", "perPage", "nextPageToken",
}  # fmt: skip
#: Parameters that do not change *which* events a query selects: a page token is valid whatever they say.
_PAGING = ("perPage", "nextPageToken")
_EPCS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
_CLASSES = {
    "MATCH_epcClass": ("quantityList", "childQuantityList"),
    "MATCH_inputEPCClass": ("inputQuantityList",),
    "MATCH_outputEPCClass": ("outputQuantityList",),
    "MATCH_anyEPCClass": ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"),
}


def _values(params: Mapping[str, str | Sequence[str]], name: str) -> list[str] | None:
    v = params.get(name)
    if v is None:
        return None
    items = [v] if isinstance(v, str) else list(v)
    return [x.strip() for item in items for x in item.split(",") if x.strip()]


def _time(params: Mapping[str, str | Sequence[str]], name: str) -> datetime | None:
    vals = _values(params, name)
    if not vals:
        return None
    try:
        ts = datetime.fromisoformat(vals[0].replace("Z", "+00:00"))
    except ValueError:
        raise QueryParameterError(f"{name}: {vals[0]!r} is not an ISO 8601 time") from None
    if ts.tzinfo is None:
        raise QueryParameterError(f"{name}: {vals[0]!r} has no offset")
    return ts


def _classes(ev: Mapping[str, Any], lists: tuple[str, ...]) -> set[str]:
    return {str(q.get("epcClass")) for name in lists for q in ev.get(name) or () if isinstance(q, Mapping)}


def _matches(ev: Mapping[str, Any], params: Mapping[str, str | Sequence[str]]) -> bool:
    types = _values(params, "eventType")
    if types is not None and ev["type"] not in types:
        return False
    steps = _values(params, "EQ_bizStep")
    if steps is not None and bare(str(ev.get("bizStep")), "BizStep-") not in {
        bare(s, "BizStep-") for s in steps
    }:
        return False
    epcs = _values(params, "MATCH_anyEPC")
    if epcs is not None and not set(epcs) & {str(e) for name in _EPCS for e in ev.get(name) or ()}:
        return False
    for name, lists in _CLASSES.items():
        wanted = _values(params, name)
        if wanted is not None and not set(wanted) & _classes(ev, lists):
            return False
    return True


@dataclass(frozen=True)
class PageToken:
    """Where a walk through a query's pages stands: after log position ``after``, up to ``upto`` (the head
    when the first page was answered, so that events appended during the walk do not move it), for the query
    whose digest is ``query`` (its selecting parameters and whose view).

    Opaque to clients (base64url of a small JSON object). It is not signed, and need not be: every page
    applies the visibility of the principal who asks, whatever the token says, so an edited token can only
    reorder what that principal may read anyway. A token is refused (QueryParameterException naming
    ``nextPageToken``) when it is not one of ours, or was issued for another query or another view."""

    after: int
    upto: int
    query: str

    def encode(self) -> str:
        raw = orjson.dumps({"v": 1, "after": self.after, "upto": self.upto, "q": self.query})
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def decode(cls, text: str, query: str) -> PageToken:
        bad = QueryParameterError(f"nextPageToken: {text[:40]!r} is not a page token of this server")
        try:
            data = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except ValueError:  # binascii.Error and orjson.JSONDecodeError are ValueErrors
            raise bad from None
        if not isinstance(data, dict) or set(data) != {"v", "after", "upto", "q"} or data["v"] != 1:
            raise bad
        after, upto = data["after"], data["upto"]
        if not (type(after) is int and type(upto) is int and 0 <= after <= upto < 2**62):
            raise bad
        if data["q"] != query:
            raise QueryParameterError(
                "nextPageToken: issued for another query (its parameters or whose events it shows): "
                "follow the previous page's Link unchanged"
            )
        return cls(after, upto, query)


def _query_digest(params: Mapping[str, str | Sequence[str]], principal: str | None) -> str:
    """What a page token is bound to: the selecting parameters as given, and whose view (``None``: all)."""
    chosen = sorted(
        (k, [v] if isinstance(v, str) else list(v)) for k, v in params.items() if k not in _PAGING
    )
    return hashlib.sha256(orjson.dumps({"p": principal, "q": chosen})).hexdigest()[:32]


def _page_size(params: Mapping[str, str | Sequence[str]]) -> int:
    pp = _values(params, "perPage")
    if pp is None:
        return PER_PAGE
    try:
        n = int(pp[0])
    except (ValueError, IndexError):
        raise QueryParameterError(f"perPage: {pp!r} is not a number") from None
    if n < 1:
        raise QueryParameterError(f"perPage: at least 1 (at most {MAX_PER_PAGE} are answered)")
    return min(n, MAX_PER_PAGE)


def query_events(
    store: Store,
    params: Mapping[str, str | Sequence[str]],
    *,
    principal: str | None,
    lot_ids: LotIds = DEFAULT_LOT_IDS,
) -> dict[str, Any]:
    """The events matching a SimpleEventQuery subset that ``principal`` may see, as an EPCISQueryDocument.

    One page: at most ``perPage`` events (default :data:`PER_PAGE`, capped at :data:`MAX_PER_PAGE`), in log
    order. When more match, the document says ``reetrace:truncated`` and gives ``reetrace:nextPageToken``:
    the same parameters with ``nextPageToken`` set to it give the next page. A walk sees the log as it was
    at its first page (events appended meanwhile are left to a new walk) and gives each matching event
    exactly once, in order. Raises :class:`QueryParameterError` for an unknown or unreadable parameter, or
    a page token that is not for this query and this principal.
    """
    unknown = sorted(set(params) - _KNOWN)
    if unknown:
        raise QueryParameterError(f"unsupported query parameter(s): {', '.join(unknown)}")
    ge, lt = _time(params, "GE_eventTime"), _time(params, "LT_eventTime")
    per_page = _page_size(params)
    digest = _query_digest(params, principal)
    token = None
    if (given := _values(params, "nextPageToken")) is not None:
        if len(given) != 1:
            raise QueryParameterError("nextPageToken: give one token")
        token = PageToken.decode(given[0], digest)
    q = sa.select(log.c.position, log.c.body).join(events, events.c.position == log.c.position)
    if principal is not None:
        q = q.where(sa.or_(events.c.enterprise == principal, events.c.counterparty == principal))
    if ge is not None:
        q = q.where(events.c.occurred_at >= ge)
    if lt is not None:
        q = q.where(events.c.occurred_at < lt)
    if token is not None:
        q = q.where(log.c.position > token.after)
    found: list[dict[str, Any]] = []
    last = 0
    more = False
    with store.reading() as conn:
        conn = store.sql.snapshot(conn)
        with conn.begin():
            upto = token.upto if token is not None else store.read_head(conn)[0]
            q = q.where(log.c.position <= upto).order_by(log.c.position)
            resolve = record_resolver(conn)
            with conn.execution_options(stream_results=True, yield_per=500).execute(q) as rows:
                for position, body in rows:
                    rec = record_of_frame(bytes(body))
                    if rec["type"] == "retract" and resolve(rec["enterprise"], rec["retracts"]) is None:
                        continue  # its target is not in the store: nothing to declare an error on
                    ev = next(records_to_epcis([rec], lot_ids, resolve))
                    if _matches(ev, params):
                        if len(found) == per_page:
                            more = True
                            break
                        found.append(ev)
                        last = int(position)
    doc: dict[str, Any] = {
        "@context": CONTEXT, "type": "EPCISQueryDocument", "schemaVersion": "2.0",
        "creationDate": datetime.now(UTC).isoformat(),
        "epcisBody": {"queryResults": {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": found}}},
    }  # fmt: skip
    if more:
        doc["reetrace:truncated"] = True
        doc["reetrace:nextPageToken"] = PageToken(last, upto, digest).encode()
    return doc


__all__ = ["CaptureJob", "PageToken", "QueryParameterError", "capture", "query_events"]

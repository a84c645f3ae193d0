"""reetrace events -> EPCIS 2.0 JSON-LD (docs/epcis-mapping.md), one event or a streamed document.

Speed matters (a store's whole log is exported in one go), so an event is read attribute by attribute into
plain dicts, never through ``model_dump``, and a document is written event by event with orjson: memory
holds one event, not the document. Every event carries its CBV 2.0 event hash as ``eventID``.

A ``retract`` becomes what CBV 2.0 calls an error declaration: the retracted event, unchanged (so with the
same hash ID), plus ``errorDeclaration``. That needs the retracted event itself: pass ``retracted`` to
:func:`event_to_epcis`, or a ``resolve`` function to the document writers (by default they remember every
event of the stream they were given, which is fine for a submission or a month, not for a whole store).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import orjson

from reetrace.epcis import vocab as v
from reetrace.epcis.hashid import event_hash_id
from reetrace.epcis.ids import (
    DEFAULT_LOT_IDS,
    EPCIS_CONTEXT,
    NS_IRI,
    NS_PREFIX,
    LotIds,
    doc_uri,
    party_uri,
    site_uri,
)
from reetrace.models import Event, InputLine, OutputLine

#: ``(enterprise, event_id) -> Event``: finds the event a retract withdraws.
Resolver = Callable[[str, str], Event | None]

CONTEXT: list[Any] = [EPCIS_CONTEXT, {NS_PREFIX: NS_IRI}]


class MissingRetracted(LookupError):
    """A retract cannot be exported without the event it withdraws."""


def _offset(ts: datetime) -> str:
    off = ts.utcoffset() or timedelta(0)
    sign = "-" if off < timedelta(0) else "+"
    minutes = abs(off) // timedelta(minutes=1)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _quantities(lines: Iterable[InputLine | OutputLine], lot_ids: LotIds) -> list[dict[str, Any]]:
    return [{"epcClass": lot_ids.uri(ln.lot), "quantity": ln.mass_kg, "uom": v.KGM} for ln in lines]


def _lot_master_data(line: OutputLine, lot_ids: LotIds) -> dict[str, Any]:
    entry: dict[str, Any] = {
        v.X_EPC_CLASS: lot_ids.uri(line.lot),
        v.X_PRODUCT: line.product,
        v.X_FORM: line.form,
    }
    if line.reo_pct is not None:
        entry[v.X_REO_PCT] = line.reo_pct
    if line.re_metal_pct is not None:
        entry[v.X_RE_METAL_PCT] = line.re_metal_pct
    if line.elements:
        entry[v.X_ELEMENTS] = {v.ext(el): share for el, share in line.elements.items()}
    source = line.from_
    if source is not None:
        entry[v.X_FROM] = lot_ids.uri(source)
    return entry


def _body(event: Event, lot_ids: LotIds) -> dict[str, Any]:
    """The event without ``eventID``: what its hash is computed from."""
    t = event.type
    shape = v.SHAPES[t if t != "adjust" else ("adjust+" if event.outputs else "adjust-")]
    kind, action, biz_step, disposition = shape
    ts = event.occurred_at
    out: dict[str, Any] = {"type": kind, "eventTime": ts.isoformat(), "eventTimeZoneOffset": _offset(ts)}
    if kind == v.TRANSFORMATION:
        out["inputQuantityList"] = _quantities(event.inputs, lot_ids)
        out["outputQuantityList"] = _quantities(event.outputs, lot_ids)
    else:
        out["quantityList"] = _quantities(event.outputs if action == "ADD" else event.inputs, lot_ids)
        out["action"] = action
    out["bizStep"] = biz_step
    out["disposition"] = disposition
    if event.site is not None:
        out["readPoint"] = {"id": site_uri(event.site)}
        if action != "DELETE" and t not in ("ship", "export"):
            out["bizLocation"] = {"id": site_uri(event.site)}
    if event.documents:
        out["bizTransactionList"] = [
            {"type": v.btt(k), "bizTransaction": doc_uri(k, d)} for k, d in event.documents.items()
        ]
    me = party_uri(event.enterprise)
    them = party_uri(event.counterparty) if event.counterparty is not None else None
    if t in ("ship", "export"):
        out["sourceList"] = [{"type": "owning_party", "source": me}]
        if them is not None:
            out["destinationList"] = [{"type": "owning_party", "destination": them}]
    elif t == "receive" and them is not None:
        out["sourceList"] = [{"type": "owning_party", "source": them}]
        out["destinationList"] = [{"type": "owning_party", "destination": me}]
    if event.outputs:
        ilmd: dict[str, Any] = {v.X_LOT: [_lot_master_data(ln, lot_ids) for ln in event.outputs]}
        if event.origin is not None:
            ilmd[v.X_ORIGIN_CUSTOMS] = event.origin.customs_entry
            ilmd[v.X_ORIGIN_COUNTRY] = event.origin.country
            ilmd[v.X_HS_CODE] = event.origin.hs_code
        out["ilmd"] = ilmd
    out[v.X_EVENT_TYPE] = t
    out[v.X_EVENT_ID] = event.event_id
    out[v.X_REPORTER] = me
    if event.process is not None:
        out[v.X_PROCESS] = event.process
    if t == "process" and them is not None:
        out[v.X_COUNTERPARTY] = them
    if event.destination is not None:
        out[v.X_DEST_COUNTRY] = event.destination.country
        out[v.X_DEST_CUSTOMS] = event.destination.customs_entry
    if event.reason is not None:
        out[v.X_REASON] = event.reason
    if event.note is not None:
        out[v.X_NOTE] = event.note
    return out


def _with_id(body: dict[str, Any]) -> dict[str, Any]:
    return {"type": body["type"], "eventID": event_hash_id(body), **body}


def _error_declaration(retract: Event) -> dict[str, Any]:
    decl: dict[str, Any] = {
        "declarationTime": retract.occurred_at.isoformat(),
        "reason": v.ERROR_REASON,
        v.X_EVENT_ID: retract.event_id,
        v.X_REASON: retract.reason,
    }
    if retract.site is not None:
        decl[v.X_SITE] = site_uri(retract.site)
    if retract.documents:
        decl[v.X_DOCUMENTS] = [doc_uri(k, d) for k, d in retract.documents.items()]
    if retract.note is not None:
        decl[v.X_NOTE] = retract.note
    return decl


def event_to_epcis(
    event: Event, *, lot_ids: LotIds = DEFAULT_LOT_IDS, retracted: Event | None = None
) -> dict[str, Any]:
    """One event as an EPCIS 2.0 event dict, ``eventID`` set to its CBV 2.0 hash ID.

    A retract needs ``retracted``, the event it withdraws (same enterprise, id ``event.retracts``): the
    result is that event with an ``errorDeclaration`` (CBV 2.0 §7.5), whose ``eventID`` is the retracted
    event's own hash ID, so that a partner who holds the original recognises it.
    """
    if event.type != "retract":
        return _with_id(_body(event, lot_ids))
    if retracted is None:
        raise MissingRetracted(f"{event.enterprise}:{event.event_id} retracts {event.retracts}: not given")
    if (retracted.enterprise, retracted.event_id) != (event.enterprise, event.retracts):
        raise ValueError(
            f"{event.enterprise}:{event.event_id} retracts {event.retracts}, "
            f"not {retracted.enterprise}:{retracted.event_id}"
        )
    if retracted.type == "retract":
        raise ValueError(f"{event.event_id} retracts a retract: CBV has no error declaration for that")
    out = _with_id(_body(retracted, lot_ids))
    out["errorDeclaration"] = _error_declaration(event)
    return out


def _epcis_events(
    events: Iterable[Event], lot_ids: LotIds, resolve: Resolver | None
) -> Iterator[dict[str, Any]]:
    seen: dict[tuple[str, str], Event] = {}
    for ev in events:
        if ev.type == "retract":
            assert ev.retracts is not None  # the contract requires it
            found = resolve(ev.enterprise, ev.retracts) if resolve else seen.get((ev.enterprise, ev.retracts))
            if found is None:
                raise MissingRetracted(f"{ev.enterprise}:{ev.event_id} retracts unknown event {ev.retracts}")
            yield event_to_epcis(ev, lot_ids=lot_ids, retracted=found)
            continue
        if resolve is None:
            seen[(ev.enterprise, ev.event_id)] = ev
        yield _with_id(_body(ev, lot_ids))


def _header(creation_date: datetime | None) -> dict[str, Any]:
    created = (creation_date or datetime.now(UTC)).isoformat()
    return {"@context": CONTEXT, "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": created}


def document(
    events: Iterable[Event],
    *,
    lot_ids: LotIds = DEFAULT_LOT_IDS,
    resolve: Resolver | None = None,
    creation_date: datetime | None = None,
) -> dict[str, Any]:
    """An EPCISDocument holding ``events`` in order (in memory: for small sets; see write_document)."""
    doc = _header(creation_date)
    doc["epcisBody"] = {"eventList": list(_epcis_events(events, lot_ids, resolve))}
    return doc


def write_document(
    events: Iterable[Event],
    fp: IO[bytes],
    *,
    lot_ids: LotIds = DEFAULT_LOT_IDS,
    resolve: Resolver | None = None,
    creation_date: datetime | None = None,
) -> int:
    """Stream an EPCISDocument to a binary file, one event at a time; returns the number of events.

    The bytes are those of ``orjson.dumps(document(...))``: the header, then each event as it comes.
    """
    head = orjson.dumps({**_header(creation_date), "epcisBody": {"eventList": []}})
    closing = b"]}}"
    if not head.endswith(b"[" + closing):
        raise AssertionError("unexpected document header layout")  # pragma: no cover
    fp.write(head[: -len(closing)])
    n = 0
    dumps = orjson.dumps
    for n, ev in enumerate(_epcis_events(events, lot_ids, resolve), start=1):
        fp.write(dumps(ev) if n == 1 else b"," + dumps(ev))
    fp.write(closing)
    return n

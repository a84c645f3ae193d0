"""reetrace events -> EPCIS 2.0 JSON-LD (docs/epcis-mapping.md), one event or a streamed document.

Speed matters (a store's whole log is exported in one go). The mapping works on an event's canonical
record (a plain dict: ``Event.canonical()``, or the record bytes of a log frame decoded as they are, so a
store export never builds an :class:`Event`), writes the CBV 2.0 pre-hash string while it builds the EPCIS
event instead of walking the result a second time, and a document is written event by event with orjson:
memory holds one event, not the document. Every event carries its CBV 2.0 event hash as ``eventID``.

A ``retract`` becomes what CBV 2.0 calls an error declaration: the retracted event, unchanged (so with the
same hash ID), plus ``errorDeclaration``. That needs the retracted event itself: pass ``retracted`` to
:func:`event_to_epcis`, or a ``resolve`` function to the document writers (by default they remember every
event of the stream they were given, which is fine for a submission or a month, not for a whole store).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import IO, Any, get_args

import orjson

from reetrace.epcis import hashid as h
from reetrace.epcis import vocab as v
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
from reetrace.models import Element, Event

#: ``(enterprise, event_id) -> Event``: finds the event a retract withdraws.
Resolver = Callable[[str, str], Event | None]

CONTEXT: list[Any] = [EPCIS_CONTEXT, {NS_PREFIX: NS_IRI}]


class MissingRetracted(LookupError):
    """A retract cannot be exported without the event it withdraws."""


def _offset(ts: datetime) -> str:
    return _offset_text(ts.utcoffset() or timedelta(0))


@lru_cache(maxsize=256)  # a store holds a handful of offsets
def _offset_text(off: timedelta) -> str:
    sign = "-" if off < timedelta(0) else "+"
    minutes = abs(off) // timedelta(minutes=1)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


#: An event's canonical record (:meth:`Event.canonical`, or as read from a log frame): what is exported.
Record = dict[str, Any]
#: ``(enterprise, event_id) -> Record``: the same as :data:`Resolver`, over records.
RecordResolver = Callable[[str, str], Record | None]

_KGM = h.canon(v.KGM)
_SDT_OWNER = "type=" + h.vocab("owning_party", "SDT-")
#: Per shape: the bizStep and disposition part of the pre-hash string (fixed by the mapping).
_SHAPE_PREHASH = {
    key: "".join(
        f"{name}={h.vocab(val, kind)}"
        for name, val, kind in (("bizStep", biz, "BizStep-"), ("disposition", disp, "Disp-"))
        if val is not None
    )
    for key, (_, _, biz, disp) in v.SHAPES.items()
}
_N_LOT, _N_EPC_CLASS, _N_PRODUCT, _N_FORM = map(h.hash_name, (v.X_LOT, v.X_EPC_CLASS, v.X_PRODUCT, v.X_FORM))
_N_REO, _N_METAL, _N_ELEMENTS, _N_FROM = map(
    h.hash_name, (v.X_REO_PCT, v.X_RE_METAL_PCT, v.X_ELEMENTS, v.X_FROM)
)
_N_ORIGIN = tuple(map(h.hash_name, (v.X_ORIGIN_CUSTOMS, v.X_ORIGIN_COUNTRY, v.X_HS_CODE)))
_ELEMENTS: tuple[str, ...] = get_args(Element)
_N_ELEMENT = {el: h.hash_name(v.ext(el)) for el in _ELEMENTS}
_X_ELEMENT = {el: v.ext(el) for el in _ELEMENTS}
#: Top-level extensions: (record field, EPCIS key, its pre-hash name), in the order they are written.
_TAIL = [
    (f, k, h.hash_name(k))
    for f, k in (("process", v.X_PROCESS), ("counterparty", v.X_COUNTERPARTY), ("country", v.X_DEST_COUNTRY),
                 ("customs_entry", v.X_DEST_CUSTOMS), ("reason", v.X_REASON), ("note", v.X_NOTE))
]  # fmt: skip
_N_EVENT_TYPE, _N_EVENT_ID, _N_REPORTER = map(h.hash_name, (v.X_EVENT_TYPE, v.X_EVENT_ID, v.X_REPORTER))


@lru_cache(maxsize=1024)  # document kinds are few
def _btt(kind: str) -> tuple[str, str]:
    """A document kind's business transaction type, and the start of its item in the pre-hash string."""
    btt = v.btt(kind)
    return btt, f"type={h.vocab(btt, 'BTT-')}bizTransaction="


def _quantities(lines: list[Record], lot_ids: LotIds, name: str, parts: list[str]) -> list[dict[str, Any]]:
    out = []
    items = []
    for ln in lines:
        uri, mass = lot_ids.uri(ln["lot"]), float(ln["mass_kg"])
        out.append({"epcClass": uri, "quantity": mass, "uom": v.KGM})
        items.append(f"quantityElementepcClass={h.canon(uri)}quantity={h.canon(mass)}uom={_KGM}")
    if items:
        items.sort()
        parts.append(name + "".join(items))
    return out


def _lot_master_data(line: Record, lot_ids: LotIds, rest: list[str]) -> dict[str, Any]:
    uri = lot_ids.uri(line["lot"])
    entry: dict[str, Any] = {v.X_EPC_CLASS: uri, v.X_PRODUCT: line["product"], v.X_FORM: line["form"]}
    pre = [h.leaf(_N_EPC_CLASS, uri), h.leaf(_N_PRODUCT, line["product"]), h.leaf(_N_FORM, line["form"])]
    if (reo := line.get("reo_pct")) is not None:
        entry[v.X_REO_PCT] = reo = float(reo)
        pre.append(h.leaf(_N_REO, reo))
    if (metal := line.get("re_metal_pct")) is not None:
        entry[v.X_RE_METAL_PCT] = metal = float(metal)
        pre.append(h.leaf(_N_METAL, metal))
    if elements := line.get("elements"):
        shares = {el: float(share) for el, share in elements.items()}
        entry[v.X_ELEMENTS] = {_X_ELEMENT[el]: share for el, share in shares.items()}
        pre.append(_N_ELEMENTS + "".join(sorted(h.leaf(_N_ELEMENT[el], x) for el, x in shares.items())))
    if (source := line.get("from")) is not None:
        entry[v.X_FROM] = src = lot_ids.uri(source)
        pre.append(h.leaf(_N_FROM, src))
    pre.sort()
    rest.append(_N_LOT + "".join(pre))
    return entry


def _epcis(rec: Record, lot_ids: LotIds) -> dict[str, Any]:
    """One record as an EPCIS event with its ``eventID``.

    The CBV 2.0 pre-hash string is written alongside the event, piece by piece as
    :func:`reetrace.epcis.hashid.prehash` would write it from the finished dict (same canonicalisation
    functions; ``tests/test_epcis_export.py`` compares both on every event of a generated month): walking
    the dict generically took half of the export's time.
    """
    t = rec["type"]
    outputs: list[Record] = rec.get("outputs") or []
    inputs: list[Record] = rec.get("inputs") or []
    key = t if t != "adjust" else ("adjust+" if outputs else "adjust-")
    kind, action, biz_step, disposition = v.SHAPES[key]
    ts = datetime.fromisoformat(rec["occurred_at"])
    offset = _offset(ts)
    out: dict[str, Any] = {
        "type": kind,
        "eventID": "",
        "eventTime": ts.isoformat(),
        "eventTimeZoneOffset": offset,
    }
    parts = [f"eventType={kind}eventTime={h.utc_millis(ts)}", h.leaf("eventTimeZoneOffset", offset)]
    if kind == v.TRANSFORMATION:
        out["inputQuantityList"] = _quantities(inputs, lot_ids, "inputQuantityList", parts)
        out["outputQuantityList"] = _quantities(outputs, lot_ids, "outputQuantityList", parts)
    else:
        lines = outputs if action == "ADD" else inputs
        out["quantityList"] = _quantities(lines, lot_ids, "quantityList", parts)
        out["action"] = action
        parts.append(h.leaf("action", action))
    out["bizStep"] = biz_step
    out["disposition"] = disposition
    parts.append(_SHAPE_PREHASH[key])
    rest: list[str] = []
    site = rec.get("site")
    if site is not None:
        uri = site_uri(site)
        out["readPoint"] = {"id": uri}
        parts.append("readPointid=" + h.canon(uri))
        if action != "DELETE" and t not in ("ship", "export"):
            out["bizLocation"] = {"id": uri}
            parts.append("bizLocationid=" + h.canon(uri))
    if documents := rec.get("documents"):
        txs, items = [], []
        for k, d in documents.items():
            btt, pre = _btt(k)
            uri = doc_uri(k, d)
            txs.append({"type": btt, "bizTransaction": uri})
            items.append(pre + h.canon(uri))
        out["bizTransactionList"] = txs
        items.sort()
        rest.append("bizTransactionList" + "".join(items))
    me = party_uri(rec["enterprise"])
    other = rec.get("counterparty")
    them = party_uri(other) if other is not None else None
    src = dst = None
    if t in ("ship", "export"):
        src, dst = me, them
    elif t == "receive" and them is not None:
        src, dst = them, me
    if src is not None:
        out["sourceList"] = [{"type": "owning_party", "source": src}]
        rest.append(f"sourceList{_SDT_OWNER}source={h.canon(src)}")
    if dst is not None:
        out["destinationList"] = [{"type": "owning_party", "destination": dst}]
        rest.append(f"destinationList{_SDT_OWNER}destination={h.canon(dst)}")
    if outputs:
        ilmd_pre: list[str] = []
        ilmd: dict[str, Any] = {v.X_LOT: [_lot_master_data(ln, lot_ids, ilmd_pre) for ln in outputs]}
        origin = rec.get("origin")
        if origin is not None:
            values = (origin["customs_entry"], origin["country"], origin["hs_code"])
            for k, n, val in zip(
                (v.X_ORIGIN_CUSTOMS, v.X_ORIGIN_COUNTRY, v.X_HS_CODE), _N_ORIGIN, values, strict=True
            ):
                ilmd[k] = val
                ilmd_pre.append(h.leaf(n, val))
        out["ilmd"] = ilmd
        ilmd_pre.sort()
        rest.append("ilmd" + "".join(ilmd_pre))
    out[v.X_EVENT_TYPE] = t
    out[v.X_EVENT_ID] = rec["event_id"]
    out[v.X_REPORTER] = me
    rest += (h.leaf(_N_EVENT_TYPE, t), h.leaf(_N_EVENT_ID, rec["event_id"]), h.leaf(_N_REPORTER, me))
    dest = rec.get("destination") or {}
    for field, k, n in _TAIL:
        if field == "counterparty":
            val = them if t == "process" else None
        elif field in ("country", "customs_entry"):
            val = dest.get(field)
        else:
            val = rec.get(field)
        if val is not None:
            out[k] = val
            rest.append(h.leaf(n, val))
    rest.sort()
    out["eventID"] = h.hash_id_of("".join(parts) + "".join(rest))
    return out


def _error_declaration(retract: Record) -> dict[str, Any]:
    decl: dict[str, Any] = {
        "declarationTime": datetime.fromisoformat(retract["occurred_at"]).isoformat(),
        "reason": v.ERROR_REASON,
        v.X_EVENT_ID: retract["event_id"],
        v.X_REASON: retract.get("reason"),
    }
    if (site := retract.get("site")) is not None:
        decl[v.X_SITE] = site_uri(site)
    if documents := retract.get("documents"):
        decl[v.X_DOCUMENTS] = [doc_uri(k, d) for k, d in documents.items()]
    if (note := retract.get("note")) is not None:
        decl[v.X_NOTE] = note
    return decl


def _declared(retract: Record, retracted: Record, lot_ids: LotIds) -> dict[str, Any]:
    """A retract as CBV 2.0's error declaration: the retracted event, same hash ID, with the declaration."""
    ent, eid = retract["enterprise"], retract["event_id"]
    if (retracted["enterprise"], retracted["event_id"]) != (ent, retract.get("retracts")):
        raise ValueError(
            f"{ent}:{eid} retracts {retract.get('retracts')}, "
            f"not {retracted['enterprise']}:{retracted['event_id']}"
        )
    if retracted["type"] == "retract":
        raise ValueError(f"{eid} retracts a retract: CBV has no error declaration for that")
    out = _epcis(retracted, lot_ids)
    out["errorDeclaration"] = _error_declaration(retract)
    return out


def event_to_epcis(
    event: Event, *, lot_ids: LotIds = DEFAULT_LOT_IDS, retracted: Event | None = None
) -> dict[str, Any]:
    """One event as an EPCIS 2.0 event dict, ``eventID`` set to its CBV 2.0 hash ID.

    A retract needs ``retracted``, the event it withdraws (same enterprise, id ``event.retracts``): the
    result is that event with an ``errorDeclaration`` (CBV 2.0 §7.5), whose ``eventID`` is the retracted
    event's own hash ID, so that a partner who holds the original recognises it.
    """
    if event.type != "retract":
        return _epcis(event.canonical(), lot_ids)
    if retracted is None:
        raise MissingRetracted(f"{event.enterprise}:{event.event_id} retracts {event.retracts}: not given")
    return _declared(event.canonical(), retracted.canonical(), lot_ids)


def records_to_epcis(
    records: Iterable[Record], lot_ids: LotIds, resolve: RecordResolver | None
) -> Iterator[dict[str, Any]]:
    """Records (in log order) as EPCIS events; a retract's target comes from ``resolve``, or by default
    from the records already seen."""
    seen: dict[tuple[str, str], Record] = {}
    for rec in records:
        if rec["type"] == "retract":
            ent, target = rec["enterprise"], rec["retracts"]
            found = resolve(ent, target) if resolve else seen.get((ent, target))
            if found is None:
                raise MissingRetracted(f"{ent}:{rec['event_id']} retracts unknown event {target}")
            yield _declared(rec, found, lot_ids)
            continue
        if resolve is None:
            seen[(rec["enterprise"], rec["event_id"])] = rec
        yield _epcis(rec, lot_ids)


def _epcis_events(
    events: Iterable[Event], lot_ids: LotIds, resolve: Resolver | None
) -> Iterator[dict[str, Any]]:
    def by_record(enterprise: str, event_id: str) -> Record | None:
        assert resolve is not None
        found = resolve(enterprise, event_id)
        return None if found is None else found.canonical()

    records = (ev.canonical() for ev in events)
    return records_to_epcis(records, lot_ids, by_record if resolve is not None else None)


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
    return write_epcis(_epcis_events(events, lot_ids, resolve), fp, creation_date=creation_date)


def write_epcis(
    epcis_events: Iterable[dict[str, Any]], fp: IO[bytes], *, creation_date: datetime | None
) -> int:
    """Stream EPCIS event dicts as one EPCISDocument; returns the number of events."""
    head = orjson.dumps({**_header(creation_date), "epcisBody": {"eventList": []}})
    closing = b"]}}"
    if not head.endswith(b"[" + closing):
        raise AssertionError("unexpected document header layout")  # pragma: no cover
    fp.write(head[: -len(closing)])
    n = 0
    dumps = orjson.dumps
    for n, ev in enumerate(epcis_events, start=1):
        fp.write(dumps(ev) if n == 1 else b"," + dumps(ev))
    fp.write(closing)
    return n

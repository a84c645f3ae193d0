"""EPCIS 2.0 documents that follow our mapping (docs/epcis-mapping.md) -> reetrace events.

Every event of ``eventList`` is read on its own and comes back either as an :class:`Event` or as the list
of everything wrong with it, each :class:`Problem` naming the event (``line`` = index + 1) and the JSON
path (``eventList[3].inputQuantityList[0].uom``). Nothing stops at the first problem: a partner fixing a
file wants the whole list. Whether one bad event refuses the whole document is the caller's decision (a
submission is all-or-nothing; a viewer may not be).

The reetrace contract is then checked by the pydantic model itself, and its complaints are translated
back to EPCIS paths, so the rules live in one place (:mod:`reetrace.models`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from pydantic import ValidationError

from reetrace.epcis import vocab as v
from reetrace.epcis.ids import DEFAULT_LOT_IDS, LotIds, parse_doc, parse_party, parse_site
from reetrace.epcis.units import mass_factor
from reetrace.errors import InputError, Problem
from reetrace.models import Event

Result = tuple[int, Event | list[Problem]]

_BY_SHAPE: dict[tuple[str, str | None, str], list[str]] = {}
for _t, (_kind, _action, _step, _disp) in v.SHAPES.items():
    _BY_SHAPE.setdefault((_kind, _action, _step), []).append(_t.rstrip("+-"))


_LINE_KEYS = (
    ("product", v.X_PRODUCT),
    ("form", v.X_FORM),
    ("reo_pct", v.X_REO_PCT),
    ("re_metal_pct", v.X_RE_METAL_PCT),
    ("elements", v.X_ELEMENTS),
    ("from", v.X_FROM),
)


class _Event:
    """The problems of one event under construction, each with its path."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.problems: list[Problem] = []

    def bad(self, path: str, reason: str) -> None:
        field = f"eventList[{self.index}]" + (f".{path}" if path else "")
        self.problems.append(Problem(self.index + 1, field, reason))


def _load(doc: Mapping[str, Any] | bytes | str) -> list[Any]:
    if isinstance(doc, bytes | str):
        try:
            doc = orjson.loads(doc)
        except orjson.JSONDecodeError as exc:
            raise InputError([Problem(0, "", f"not JSON: {exc}")]) from None
    if not isinstance(doc, Mapping) or doc.get("type") != "EPCISDocument":
        raise InputError([Problem(0, "type", "not an EPCISDocument")])
    body = doc.get("epcisBody")
    events = body.get("eventList") if isinstance(body, Mapping) else None
    if not isinstance(events, list):
        raise InputError([Problem(0, "epcisBody.eventList", "missing: a document needs a list of events")])
    return events


def parse_document(
    doc: Mapping[str, Any] | bytes | str, *, lot_ids: LotIds = DEFAULT_LOT_IDS, enterprise: str | None = None
) -> list[Result]:
    """Every event of an EPCISDocument as ``(index, Event)`` or ``(index, [Problem, …])``, in order.

    ``enterprise``, when given, is the only reporter allowed (a submission is one enterprise's file).
    An unreadable document (not JSON, no ``eventList``) raises :class:`InputError` instead.
    """
    return [
        (i, parse_event(raw, i, lot_ids=lot_ids, enterprise=enterprise)) for i, raw in enumerate(_load(doc))
    ]


def parse_event(
    raw: Any, index: int = 0, *, lot_ids: LotIds = DEFAULT_LOT_IDS, enterprise: str | None = None
) -> Event | list[Problem]:
    """One EPCIS event dict -> an Event, or every problem found in it."""
    ctx = _Event(index)
    if not isinstance(raw, Mapping):
        ctx.bad("", "an event is a JSON object")
        return ctx.problems
    record, paths = _record(raw, ctx, lot_ids)
    reporter = record.get("enterprise")
    if enterprise is not None and reporter is not None and reporter != enterprise:
        ctx.bad(v.X_REPORTER, f"reported by {reporter}, but this document is {enterprise}'s")
    if ctx.problems:
        return ctx.problems
    try:
        return Event.model_validate(record)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            ctx.bad(paths.get(loc) or paths.get(loc[:2]) or paths.get(loc[:1]) or "", msg)
        return ctx.problems


def _str(raw: Mapping[str, Any], key: str, ctx: _Event, path: str, *, required: bool = False) -> str | None:
    val = raw.get(key)
    if val is None:
        if required:
            ctx.bad(path, "missing")
        return None
    if not isinstance(val, str):
        ctx.bad(path, f"{val!r} is not a string")
        return None
    return val


def _time(raw: Mapping[str, Any], ctx: _Event) -> datetime | None:
    text = _str(raw, "eventTime", ctx, "eventTime", required=True)
    offset = _str(raw, "eventTimeZoneOffset", ctx, "eventTimeZoneOffset", required=True)
    if text is None or offset is None:
        return None
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        ctx.bad("eventTime", f"{text!r} is not an ISO 8601 time")
        return None
    if ts.tzinfo is None:
        ctx.bad("eventTime", f"{text!r} has no offset")
        return None
    try:
        sign = -1 if offset[0] == "-" else 1
        hh, mm = offset[1:].split(":")
        tz = timezone(sign * timedelta(hours=int(hh), minutes=int(mm)))
    except (ValueError, IndexError):
        ctx.bad("eventTimeZoneOffset", f"{offset!r} is not ±HH:MM")
        return None
    return ts.astimezone(tz)  # the reporter's local time, as reetrace records it


def _shape(raw: Mapping[str, Any], ctx: _Event) -> str | None:
    kind = raw.get("type")
    action = raw.get("action") if kind == v.OBJECT else None
    step = v.bare(str(raw.get("bizStep", "")), "BizStep-")
    declared = raw.get(v.X_EVENT_TYPE)
    if kind not in (v.OBJECT, v.TRANSFORMATION):
        ctx.bad("type", f"{kind!r}: reetrace events are ObjectEvents or TransformationEvents")
        return None
    candidates = _BY_SHAPE.get((kind, action, step))
    if not candidates:
        steps = sorted({s for (k, a, s) in _BY_SHAPE if k == kind and a == action})
        if not steps:
            ctx.bad("action", f"{action!r}: an ObjectEvent of the mapping is ADD, OBSERVE or DELETE")
        else:
            ctx.bad("bizStep", f"{step or None!r} is not a bizStep of the mapping for {kind} {action or ''}"
                    f"(expected one of {', '.join(steps)})")  # fmt: skip
        return None
    if declared is not None:
        if declared not in candidates:
            ctx.bad(
                v.X_EVENT_TYPE, f"{declared!r} does not fit {kind} {action or ''} {step}".replace("  ", " ")
            )
            return None
        return str(declared)
    if len(candidates) == 1:
        return candidates[0]
    if "import" in candidates:  # extract or import: an import names its customs entry
        ilmd = raw.get("ilmd")
        return "import" if isinstance(ilmd, Mapping) and v.X_ORIGIN_CUSTOMS in ilmd else "extract"
    return "export" if v.X_DEST_COUNTRY in raw else "ship"


def _record(
    raw: Mapping[str, Any], ctx: _Event, lot_ids: LotIds
) -> tuple[dict[str, Any], dict[tuple[Any, ...], str]]:
    """The reetrace record of one event, and the EPCIS path of each of its fields (for errors)."""
    decl = raw.get("errorDeclaration")
    if decl is not None:
        return _retract(raw, decl, ctx)
    t = _shape(raw, ctx)
    rec: dict[str, Any] = {"type": t}
    paths: dict[tuple[Any, ...], str] = {("type",): "bizStep"}
    _common(raw, ctx, rec, paths)
    if t is None:
        return rec, paths
    kind = raw["type"]
    if kind == v.TRANSFORMATION:
        ins, outs = "inputQuantityList", "outputQuantityList"
    elif raw.get("action") == "ADD":
        ins, outs = "", "quantityList"
    else:
        ins, outs = "quantityList", ""
    if ins:
        rec["inputs"] = [
            {"lot": lot, "mass_kg": kg} for lot, kg in _quantities(raw, ins, ctx, lot_ids, paths, "inputs")
        ]
    if outs:
        rec["outputs"] = _outputs(raw, outs, ctx, lot_ids, paths)
    _parties(raw, t, ctx, rec, paths)
    if t == "import":
        found = raw.get("ilmd")
        ilmd: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        origin = {"customs_entry": ilmd.get(v.X_ORIGIN_CUSTOMS), "country": ilmd.get(v.X_ORIGIN_COUNTRY),
                  "hs_code": ilmd.get(v.X_HS_CODE)}  # fmt: skip
        if all(x is None for x in origin.values()):
            ctx.bad("ilmd", f"an import needs {v.X_ORIGIN_CUSTOMS}, {v.X_ORIGIN_COUNTRY} and {v.X_HS_CODE}")
        else:
            rec["origin"] = origin
        for f, key in (
            ("customs_entry", v.X_ORIGIN_CUSTOMS),
            ("country", v.X_ORIGIN_COUNTRY),
            ("hs_code", v.X_HS_CODE),
        ):
            paths[("origin", f)] = f"ilmd.{key}"
        paths[("origin",)] = "ilmd"
    if t == "export" or v.X_DEST_COUNTRY in raw or v.X_DEST_CUSTOMS in raw:
        rec["destination"] = {
            "country": raw.get(v.X_DEST_COUNTRY),
            "customs_entry": raw.get(v.X_DEST_CUSTOMS),
        }
        paths[("destination", "country")] = v.X_DEST_COUNTRY
        paths[("destination", "customs_entry")] = v.X_DEST_CUSTOMS
        paths[("destination",)] = v.X_DEST_COUNTRY
    for key, field in ((v.X_PROCESS, "process"), (v.X_REASON, "reason")):
        if key in raw:
            rec[field] = raw[key]
        paths[(field,)] = key
    return rec, paths


def _common(
    raw: Mapping[str, Any], ctx: _Event, rec: dict[str, Any], paths: dict[tuple[Any, ...], str]
) -> None:
    rec["event_id"] = _str(raw, v.X_EVENT_ID, ctx, v.X_EVENT_ID, required=True)
    rep = _str(raw, v.X_REPORTER, ctx, v.X_REPORTER, required=True)
    if rep is not None:
        rec["enterprise"] = _party(rep, ctx, v.X_REPORTER)
    rec["occurred_at"] = _time(raw, ctx)
    point = raw.get("readPoint")
    if isinstance(point, Mapping) and isinstance(point.get("id"), str):
        try:
            rec["site"] = parse_site(point["id"])
        except ValueError as exc:
            ctx.bad("readPoint.id", str(exc))
    if v.X_NOTE in raw:
        rec["note"] = raw.get(v.X_NOTE)
    docs = _documents(raw.get("bizTransactionList"), ctx, "bizTransactionList", "bizTransaction")
    if docs:
        rec["documents"] = docs
    paths.update(
        {
            ("event_id",): v.X_EVENT_ID,
            ("enterprise",): v.X_REPORTER,
            ("occurred_at",): "eventTime",
            ("site",): "readPoint.id",
            ("note",): v.X_NOTE,
            ("documents",): "bizTransactionList",
        }
    )


def _party(uri: str, ctx: _Event, path: str) -> str | None:
    try:
        return parse_party(uri)
    except ValueError as exc:
        ctx.bad(path, str(exc))
        return None


def _documents(items: Any, ctx: _Event, path: str, key: str | None) -> dict[str, str] | None:
    if items is None:
        return None
    if not isinstance(items, list):
        ctx.bad(path, "not a list")
        return None
    docs: dict[str, str] = {}
    for j, item in enumerate(items):
        uri = item.get(key) if key is not None and isinstance(item, Mapping) else item
        where = f"{path}[{j}]" + (f".{key}" if key else "")
        if not isinstance(uri, str):
            ctx.bad(where, "missing")
            continue
        try:
            kind, ident = parse_doc(uri)
        except ValueError as exc:
            ctx.bad(where, str(exc))
            continue
        if kind in docs:
            ctx.bad(where, f"a second {kind!r} document")
        docs[kind] = ident
    return docs


def _quantities(
    raw: Mapping[str, Any],
    name: str,
    ctx: _Event,
    lot_ids: LotIds,
    paths: dict[tuple[Any, ...], str],
    side: str,
) -> list[tuple[str | None, float | None]]:
    items = raw.get(name)
    if not isinstance(items, list) or not items:
        ctx.bad(name, "missing: a trace needs lots with masses")
        return []
    out: list[tuple[str | None, float | None]] = []
    for j, q in enumerate(items):
        where = f"{name}[{j}]"
        paths[(side, j)] = where
        paths[(side, j, "lot")] = f"{where}.epcClass"
        paths[(side, j, "mass_kg")] = f"{where}.quantity"
        if not isinstance(q, Mapping):
            ctx.bad(where, "not an object")
            out.append((None, None))
            continue
        lot: str | None = None
        try:
            lot = lot_ids.lot(str(q.get("epcClass")))
        except ValueError as exc:
            ctx.bad(f"{where}.epcClass", str(exc))
        out.append((lot, _mass(q, ctx, where)))
    return out


def _mass(q: Mapping[str, Any], ctx: _Event, where: str) -> float | None:
    qty, uom = q.get("quantity"), q.get("uom")
    if qty is None:
        ctx.bad(f"{where}.quantity", "missing: a lot line needs its mass")
        return None
    if isinstance(qty, bool) or not isinstance(qty, int | float):
        ctx.bad(f"{where}.quantity", f"{qty!r} is not a number")
        return None
    if uom is None:
        ctx.bad(f"{where}.uom", "missing: a quantity without uom is a count of items, not a mass")
        return None
    factor = mass_factor(str(uom))
    if factor is None:
        ctx.bad(f"{where}.uom", f"{uom!r} is not a mass unit (expected {v.KGM})")
        return None
    return float(qty) * factor if factor != 1 else float(qty)


def _outputs(
    raw: Mapping[str, Any], name: str, ctx: _Event, lot_ids: LotIds, paths: dict[tuple[Any, ...], str]
) -> list[dict[str, Any]]:
    lines = _quantities(raw, name, ctx, lot_ids, paths, "outputs")
    ilmd = raw.get("ilmd")
    entries = ilmd.get(v.X_LOT) if isinstance(ilmd, Mapping) else None
    if not isinstance(entries, list):
        ctx.bad("ilmd", f"missing {v.X_LOT}: every lot created needs its product, form and content")
        return []
    by_class: dict[str, tuple[int, Mapping[str, Any]]] = {}
    for k, e in enumerate(entries):
        if isinstance(e, Mapping) and isinstance(e.get(v.X_EPC_CLASS), str):
            by_class[e[v.X_EPC_CLASS]] = (k, e)
        else:
            ctx.bad(f"ilmd.{v.X_LOT}[{k}].{v.X_EPC_CLASS}", "missing")
    out: list[dict[str, Any]] = []
    for j, (lot, kg) in enumerate(lines):
        uri = raw[name][j].get("epcClass") if isinstance(raw[name][j], Mapping) else None
        found = by_class.get(uri) if isinstance(uri, str) else None
        if found is None:
            if lot is not None:
                ctx.bad(f"{name}[{j}].epcClass", f"ilmd has no {v.X_LOT} entry for {uri}")
            continue
        k, e = found
        base = f"ilmd.{v.X_LOT}[{k}]"
        line: dict[str, Any] = {
            "lot": lot,
            "product": e.get(v.X_PRODUCT),
            "form": e.get(v.X_FORM),
            "mass_kg": kg,
        }
        for key, field in ((v.X_REO_PCT, "reo_pct"), (v.X_RE_METAL_PCT, "re_metal_pct")):
            if key in e:
                line[field] = e[key]
        for field, key in _LINE_KEYS:
            paths[("outputs", j, field)] = f"{base}.{key}"
        els = e.get(v.X_ELEMENTS)
        if els is not None:
            if isinstance(els, Mapping):
                line["elements"] = {str(k2).removeprefix(v.ext("")): x for k2, x in els.items()}
            else:
                ctx.bad(f"{base}.{v.X_ELEMENTS}", "not an object of element shares")
        src = e.get(v.X_FROM)
        if src is not None:
            try:
                line["from"] = lot_ids.lot(str(src))
            except ValueError as exc:
                ctx.bad(f"{base}.{v.X_FROM}", str(exc))
        out.append(line)
    return out


def _parties(
    raw: Mapping[str, Any], t: str, ctx: _Event, rec: dict[str, Any], paths: dict[tuple[Any, ...], str]
) -> None:
    """The counterparty: the receiver of a ship or export, the sender of a receive, the owner in tolling."""
    if t == "process":
        if v.X_COUNTERPARTY in raw:
            rec["counterparty"] = _party(str(raw[v.X_COUNTERPARTY]), ctx, v.X_COUNTERPARTY)
        paths[("counterparty",)] = v.X_COUNTERPARTY
        return
    if t not in ("ship", "export", "receive"):
        return
    name, key = ("sourceList", "source") if t == "receive" else ("destinationList", "destination")
    paths[("counterparty",)] = name
    owners = [
        (j, item.get(key))
        for j, item in enumerate(raw.get(name) or [])
        if isinstance(item, Mapping) and v.bare(str(item.get("type")), "SDT-") == "owning_party"
    ]
    if len(owners) > 1:
        ctx.bad(name, f"{len(owners)} owning parties: one counterparty per event")
    elif owners:
        j, uri = owners[0]
        rec["counterparty"] = _party(str(uri), ctx, f"{name}[{j}].{key}")
        paths[("counterparty",)] = f"{name}[{j}].{key}"


def _retract(
    raw: Mapping[str, Any], decl: Any, ctx: _Event
) -> tuple[dict[str, Any], dict[tuple[Any, ...], str]]:
    """An error declaration -> the retract it records (the declared event's own content is not kept)."""
    paths: dict[tuple[Any, ...], str] = {
        ("event_id",): f"errorDeclaration.{v.X_EVENT_ID}",
        ("retracts",): v.X_EVENT_ID,
        ("enterprise",): v.X_REPORTER,
        ("occurred_at",): "errorDeclaration.declarationTime",
        ("reason",): f"errorDeclaration.{v.X_REASON}",
        ("site",): f"errorDeclaration.{v.X_SITE}",
        ("note",): f"errorDeclaration.{v.X_NOTE}",
        ("documents",): f"errorDeclaration.{v.X_DOCUMENTS}",
    }
    rec: dict[str, Any] = {"type": "retract"}
    if not isinstance(decl, Mapping):
        ctx.bad("errorDeclaration", "not an object")
        return rec, paths
    rec["event_id"] = _str(decl, v.X_EVENT_ID, ctx, f"errorDeclaration.{v.X_EVENT_ID}", required=True)
    rec["retracts"] = _str(raw, v.X_EVENT_ID, ctx, v.X_EVENT_ID, required=True)
    rep = _str(raw, v.X_REPORTER, ctx, v.X_REPORTER, required=True)
    if rep is not None:
        rec["enterprise"] = _party(rep, ctx, v.X_REPORTER)
    when = _str(decl, "declarationTime", ctx, "errorDeclaration.declarationTime", required=True)
    if when is not None:
        try:
            rec["occurred_at"] = datetime.fromisoformat(when)
        except ValueError:
            ctx.bad("errorDeclaration.declarationTime", f"{when!r} is not an ISO 8601 time")
    reason = decl.get(v.X_REASON)
    rec["reason"] = reason if reason is not None else v.bare(str(decl.get("reason") or ""), "ER-") or None
    site = _str(decl, v.X_SITE, ctx, f"errorDeclaration.{v.X_SITE}")
    if site is not None:
        try:
            rec["site"] = parse_site(site)
        except ValueError as exc:
            ctx.bad(f"errorDeclaration.{v.X_SITE}", str(exc))
    docs = _documents(decl.get(v.X_DOCUMENTS), ctx, f"errorDeclaration.{v.X_DOCUMENTS}", None)
    if docs:
        rec["documents"] = docs
    if v.X_NOTE in decl:
        rec["note"] = decl[v.X_NOTE]
    return rec, paths

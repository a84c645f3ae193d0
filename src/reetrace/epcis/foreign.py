"""A foreign supplier's EPCIS document -> the provenance chain it declares, for a trace to hang below
an import entry.

A foreign document follows no mapping of ours (GS1 keys, other vocabularies, items counted rather than
weighed), so it is not turned into reetrace events; it is read as a declaration: which lots
(``epcClass``/EPC) with which masses, which transformations turned which inputs into which outputs, and
where material was first commissioned at a place that reads as a mine (a commissioning ``ADD`` with a
location and instance master data). Each event is accepted into the chain or refused with a reason a
person can act on ("no quantities: a trace needs masses"); a chain is only as good as its masses, so a
count or a missing ``uom`` refuses the event rather than being guessed into kilograms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from reetrace.epcis.units import mass_factor
from reetrace.epcis.vocab import bare

_QTY_LISTS = ("quantityList", "inputQuantityList", "outputQuantityList", "childQuantityList")
_EPC_LISTS = ("epcList", "inputEPCList", "outputEPCList", "childEPCs")


@dataclass(frozen=True)
class Quantity:
    """A mass of one lot (class-level ``epcClass`` or instance EPC), in kilograms."""

    lot: str
    kg: float


@dataclass(frozen=True)
class Step:
    """What every accepted event has: where in the document, when, where."""

    index: int
    event_id: str | None
    time: str | None
    location: str | None
    biz_step: str | None


@dataclass(frozen=True)
class Transformation(Step):
    """Inputs became outputs: each input may have contributed to each output (EPCIS says no more)."""

    inputs: tuple[Quantity, ...] = ()
    outputs: tuple[Quantity, ...] = ()


@dataclass(frozen=True)
class Origin(Step):
    """Lots commissioned at a place, with their instance master data (``ilmd``): a declared source."""

    lots: tuple[Quantity, ...] = ()
    ilmd: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Custody(Step):
    """Lots observed, shipped, received or removed without changing identity."""

    action: str = "OBSERVE"
    lots: tuple[Quantity, ...] = ()
    sources: tuple[str, ...] = ()
    destinations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Refusal:
    index: int
    event_type: str
    reason: str


@dataclass
class ProvenanceChain:
    """The declared chain: accepted steps by kind, refused events with their reasons."""

    transformations: list[Transformation] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)
    custody: list[Custody] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    def lots(self) -> set[str]:
        """Every lot the accepted steps name: the nodes of the chain."""
        found: set[str] = set()
        for t in self.transformations:
            found.update(q.lot for q in (*t.inputs, *t.outputs))
        for o in self.origins:
            found.update(q.lot for q in o.lots)
        for c in self.custody:
            found.update(q.lot for q in c.lots)
        return found

    def edges(self) -> list[tuple[str, str, int]]:
        """``(input lot, output lot, event index)`` for every pair of every transformation."""
        return [(i.lot, o.lot, t.index) for t in self.transformations for i in t.inputs for o in t.outputs]

    @property
    def accepted(self) -> int:
        return len(self.transformations) + len(self.origins) + len(self.custody)


class _Refused(Exception):
    pass


def _masses(event: Mapping[str, Any], name: str) -> tuple[Quantity, ...]:
    items = event.get(name) or []
    out: list[Quantity] = []
    problems: list[str] = []
    for j, q in enumerate(items):
        where = f"{name}[{j}]"
        if not isinstance(q, Mapping) or not isinstance(q.get("epcClass"), str):
            problems.append(f"{where}: no epcClass")
            continue
        qty, uom = q.get("quantity"), q.get("uom")
        if qty is None:
            problems.append(f"{where}: no quantity: a trace needs masses")
        elif isinstance(qty, bool) or not isinstance(qty, int | float) or qty <= 0:
            problems.append(f"{where}: quantity {qty!r} is not a positive number")
        elif uom is None:
            problems.append(f"{where}: no uom: {q['epcClass']} is counted, not weighed")
        elif (factor := mass_factor(str(uom))) is None:
            problems.append(f"{where}: uom {uom!r} is not a mass")
        else:
            out.append(Quantity(q["epcClass"], float(qty) * factor))
    if problems:
        raise _Refused("; ".join(problems))
    return tuple(out)


def _no_items(event: Mapping[str, Any], names: tuple[str, ...]) -> None:
    """Refuse if the event names instances (EPCs) only in the given lists: they carry no mass."""
    n = sum(len(event.get(k) or []) for k in names)
    if n:
        raise _Refused(f"no quantities: a trace needs masses ({n} EPC instance(s) carry none)")
    raise _Refused("no quantities: a trace needs masses")


def _step(index: int, event: Mapping[str, Any]) -> dict[str, Any]:
    loc = event.get("bizLocation") or event.get("readPoint")
    step = event.get("bizStep")
    return {
        "index": index,
        "event_id": event.get("eventID"),
        "time": event.get("eventTime"),
        "location": loc.get("id") if isinstance(loc, Mapping) else None,
        "biz_step": bare(step, "BizStep-") if isinstance(step, str) else None,
    }


def _parties(event: Mapping[str, Any], name: str, key: str) -> tuple[str, ...]:
    return tuple(str(x.get(key)) for x in event.get(name) or [] if isinstance(x, Mapping) and x.get(key))


def _read(index: int, event: Any, chain: ProvenanceChain) -> None:
    if not isinstance(event, Mapping):
        raise _Refused("not an event object")
    kind = event.get("type")
    decl = event.get("errorDeclaration")
    if isinstance(decl, Mapping):
        reason = bare(str(decl.get("reason") or "unstated"), "ER-")
        fixes = decl.get("correctiveEventIDs") or []
        also = f"; corrected by {', '.join(map(str, fixes))}" if fixes else ""
        raise _Refused(f"declared in error ({reason}) at {decl.get('declarationTime')}{also}")
    if kind == "TransformationEvent":
        ins, outs = _masses(event, "inputQuantityList"), _masses(event, "outputQuantityList")
        if not ins or not outs:
            missing = "inputs" if not ins else "outputs"
            _no_items(event, ("inputEPCList",) if not ins else ("outputEPCList",))
            raise _Refused(f"no {missing}")  # pragma: no cover - _no_items raises
        chain.transformations.append(Transformation(**_step(index, event), inputs=ins, outputs=outs))
        return
    if kind != "ObjectEvent":
        article = "an" if str(kind)[:1] in "AEIOU" else "a"
        raise _Refused(f"{article} {kind} groups or associates items; it moves no mass between lots")
    lots = _masses(event, "quantityList")
    if not lots:
        _no_items(event, ("epcList",))
    action = str(event.get("action"))
    step = _step(index, event)
    if action == "ADD" and step["biz_step"] == "commissioning":
        ilmd = event.get("ilmd")
        if step["location"] is None or not isinstance(ilmd, Mapping) or not ilmd:
            raise _Refused("commissioning without a location and ilmd: no origin can be read from it")
        chain.origins.append(Origin(**step, lots=lots, ilmd=dict(ilmd)))
        return
    chain.custody.append(
        Custody(
            **step,
            action=action,
            lots=lots,
            sources=_parties(event, "sourceList", "source"),
            destinations=_parties(event, "destinationList", "destination"),
        )
    )


def parse_foreign(doc: Mapping[str, Any] | bytes | str) -> ProvenanceChain:
    """Read every event of a foreign EPCISDocument into a chain; refusals are reported, never raised.

    ``ValueError`` only when the input is not an EPCISDocument with an event list at all.
    """
    if isinstance(doc, bytes | str):
        doc = orjson.loads(doc)
    if not isinstance(doc, Mapping) or doc.get("type") not in ("EPCISDocument", "EPCISQueryDocument"):
        raise ValueError("not an EPCISDocument")
    body = doc.get("epcisBody")
    events = body.get("eventList") if isinstance(body, Mapping) else None
    if events is None and isinstance(body, Mapping) and isinstance(body.get("queryResults"), Mapping):
        events = (body["queryResults"].get("resultsBody") or {}).get("eventList")
    if not isinstance(events, list):
        raise ValueError("epcisBody.eventList: missing")
    chain = ProvenanceChain()
    for i, event in enumerate(events):
        try:
            _read(i, event, chain)
        except _Refused as exc:
            kind = str(event.get("type")) if isinstance(event, Mapping) else type(event).__name__
            chain.refused.append(Refusal(i, kind, str(exc)))
    return chain
